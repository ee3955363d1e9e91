import { RpcRequest } from './envelope';
import { noSuchMethod, unsupportedVersion } from './remote-failure';

export type RpcMethod = (context: Record<string, unknown>, args: Record<string, unknown>) => Promise<unknown>;

/** A set of methods under one version and namespace, as an oslo endpoint object declares its `target`. */
export interface RpcEndpoint {
  /** `major.minor`: requests for the same major and a minor up to this one are served. */
  version: string;
  /** Requests must name this namespace; null (the default) serves requests that name none. */
  namespace: string | null;
  methods: Record<string, RpcMethod>;
}

/** oslo's rule: same major, requested minor (and revision) not newer than the endpoint's. */
export function isCompatible(endpointVersion: string, requested: string): boolean {
  const have = endpointVersion.split('.').map(Number);
  const want = requested.split('.').map(Number);
  if (have[0] !== want[0]) return false;
  for (let i = 1; i < Math.max(have.length, want.length); i++) {
    const h = have[i] ?? 0;
    const w = want[i] ?? 0;
    if (w !== h) return w < h;
  }
  return true;
}

/**
 * Finds the method a request names, as oslo's RPCDispatcher does: among endpoints of the request's
 * namespace and a compatible version, the first that has it. A compatible endpoint without the method is
 * NoSuchMethod; no compatible endpoint is UnsupportedVersion. Names starting with `_` are never methods.
 */
export function resolveMethod(endpoints: RpcEndpoint[], request: RpcRequest): RpcMethod {
  let compatible = false;
  for (const endpoint of endpoints) {
    if (endpoint.namespace !== request.namespace) continue;
    if (!isCompatible(endpoint.version, request.version)) continue;
    compatible = true;
    const method = Object.prototype.hasOwnProperty.call(endpoint.methods, request.method) ? endpoint.methods[request.method] : undefined;
    if (method && !request.method.startsWith('_')) return method;
  }
  throw compatible ? noSuchMethod(request.method) : unsupportedVersion(request.version, request.method);
}
