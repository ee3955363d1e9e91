import { randomUUID } from 'node:crypto';
import { RemoteFailure, serializeFailure } from './remote-failure';

/** oslo.messaging's message format version: the envelope `{"oslo.version", "oslo.message": "<json>"}`. */
const OSLO_VERSION = '2.0';
const CONTEXT_PREFIX = '_context_';

export interface RpcRequest {
  method: string;
  /** Keyword arguments (oslo clients send only keyword arguments). */
  args: Record<string, unknown>;
  /** `1.0` when the client set none. */
  version: string;
  namespace: string | null;
  /** The caller's context, `_context_` prefix stripped. */
  context: Record<string, unknown>;
  /** Present on calls: where and under which id the reply goes. Casts have neither. */
  msgId?: string;
  replyQueue?: string;
  /** The call monitor timeout in seconds: heartbeats every half of it while the method runs. */
  callMonitorTimeout?: number;
  uniqueId?: string;
}

export class MalformedRpcMessageError extends Error {
  constructor(reason: string) {
    super(`malformed oslo.messaging request: ${reason}`);
    this.name = 'MalformedRpcMessageError';
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function decodeRequest(body: Buffer): RpcRequest {
  let envelope: unknown;
  try {
    envelope = JSON.parse(body.toString('utf8'));
  } catch {
    throw new MalformedRpcMessageError('the body is not JSON');
  }
  if (!isObject(envelope)) throw new MalformedRpcMessageError('the body is not a JSON object');
  let inner: unknown = envelope;
  if ('oslo.message' in envelope) {
    if (envelope['oslo.version'] !== OSLO_VERSION) throw new MalformedRpcMessageError(`unsupported oslo.version ${JSON.stringify(envelope['oslo.version'])}`);
    if (typeof envelope['oslo.message'] !== 'string') throw new MalformedRpcMessageError('oslo.message is not a string');
    try {
      inner = JSON.parse(envelope['oslo.message']);
    } catch {
      throw new MalformedRpcMessageError('oslo.message is not JSON');
    }
  }
  if (!isObject(inner)) throw new MalformedRpcMessageError('the message is not a JSON object');
  const m = inner;
  if (typeof m.method !== 'string' || m.method === '') throw new MalformedRpcMessageError('method is missing');
  if (m.args !== undefined && !isObject(m.args)) throw new MalformedRpcMessageError('args is not an object');
  const version = m.version ?? '1.0';
  if (typeof version !== 'string' || !/^\d+\.\d+(\.\d+)?$/.test(version)) throw new MalformedRpcMessageError(`version ${JSON.stringify(version)} is not N.N`);
  if (m.namespace !== undefined && m.namespace !== null && typeof m.namespace !== 'string') throw new MalformedRpcMessageError('namespace is not a string');
  const context: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(m)) if (key.startsWith(CONTEXT_PREFIX)) context[key.slice(CONTEXT_PREFIX.length)] = value;
  const request: RpcRequest = {
    method: m.method,
    args: (m.args as Record<string, unknown> | undefined) ?? {},
    version,
    namespace: (m.namespace as string | null | undefined) ?? null,
    context,
  };
  if (typeof m._msg_id === 'string' && m._msg_id !== '') {
    if (typeof m._reply_q !== 'string' || m._reply_q === '') throw new MalformedRpcMessageError('a call without _reply_q');
    request.msgId = m._msg_id;
    request.replyQueue = m._reply_q;
    if (typeof m._timeout === 'number' && Number.isFinite(m._timeout)) request.callMonitorTimeout = m._timeout;
  }
  if (typeof m._unique_id === 'string') request.uniqueId = m._unique_id;
  return request;
}

export type RpcReply =
  | { msgId: string; ending: true; result: unknown; failure?: undefined }
  | { msgId: string; ending: true; failure: RemoteFailure }
  | { msgId: string; ending: false };

/** A reply (or, with ending false, a heartbeat) exactly as oslo clients expect it. */
export function encodeReply(reply: RpcReply): Buffer {
  const failure = reply.ending && reply.failure ? serializeFailure(reply.failure) : null;
  const result = reply.ending && !reply.failure ? (reply.result ?? null) : null;
  const inner = { result, failure, ending: reply.ending, _msg_id: reply.msgId, _unique_id: randomUUID().replace(/-/g, '') };
  return Buffer.from(JSON.stringify({ 'oslo.version': OSLO_VERSION, 'oslo.message': JSON.stringify(inner) }));
}

/** The context as logs may show it: no secrets. */
export function loggableContext(context: Record<string, unknown>): Record<string, unknown> {
  const safe: Record<string, unknown> = {};
  for (const key of ['request_id', 'project_id', 'user_id', 'global_request_id']) if (context[key] !== undefined) safe[key] = context[key];
  return safe;
}
