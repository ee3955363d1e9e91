import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { md5Hex, SinkObject, SinkObjects } from './sink-objects';

const ACCOUNT = 'AUTH_sink';
const TOKEN = 'sink-token';

/**
 * A bench tool, never a test double in island's real path: enough of the Swift API (tempauth v1, containers,
 * write-once PUT with its ETag check, GET whole or ranged, HEAD, DELETE, listings, bulk delete) for island's
 * client to use it as a region's object store, with bodies in memory (SinkObjects). It checks what Swift checks
 * that island relies on — the MD5 a PUT states, If-None-Match: * — and nothing else.
 */
export async function startSwiftSink(options: { port?: number; maxBytes: number }): Promise<{ server: Server; port: number; objects: SinkObjects }> {
  const objects = new SinkObjects(options.maxBytes);
  const server = createServer((req, res) => {
    handle(objects, req, res).catch((error: Error) => {
      if (!res.headersSent) reply(res, 500, error.message);
      else res.destroy(error);
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, objects };
}

async function handle(objects: SinkObjects, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://sink');
  const method = req.method ?? 'GET';
  if (url.pathname === '/auth/v1.0') {
    objects.count('auth');
    const storageUrl = `http://${req.headers.host}/v1/${ACCOUNT}`;
    return reply(res, 200, '', { 'x-auth-token': TOKEN, 'x-storage-url': storageUrl, 'x-auth-token-expires': '86400' });
  }
  if (url.pathname === '/info') return reply(res, 200, JSON.stringify({ swift: { version: 'sink' }, bulk_delete: {} }));
  const [, version, account, container, ...rest] = url.pathname.split('/');
  if (version !== 'v1' || account !== ACCOUNT) return reply(res, 404, 'not found');
  if (req.headers['x-auth-token'] !== TOKEN) return reply(res, 401, 'unauthorized');
  const name = rest.map(decodeURIComponent).join('/');
  const containerName = container ? decodeURIComponent(container) : '';
  if (!containerName) return handleAccount(objects, method, url, req, res);
  if (!name) return handleContainer(objects, method, containerName, url, res);
  return handleObject(objects, method, containerName, name, req, res);
}

async function handleAccount(objects: SinkObjects, method: string, url: URL, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (method === 'POST' && url.searchParams.has('bulk-delete')) {
    objects.count('bulk delete');
    const lines = (await readBody(req)).toString('utf8').split('\n').filter(Boolean);
    let deleted = 0;
    let notFound = 0;
    const errors: [string, string][] = [];
    for (const line of lines) {
      const [container, ...parts] = line.replace(/^\//, '').split('/').map(decodeURIComponent);
      if (parts.length > 0) {
        if (objects.delete(container, parts.join('/'))) deleted++;
        else notFound++;
        continue;
      }
      const outcome = objects.deleteContainer(container);
      if (outcome === 'deleted') deleted++;
      else if (outcome === 'missing') notFound++;
      else errors.push([line, '409 Conflict']);
    }
    const status = errors.length ? '400 Bad Request' : '200 OK';
    return reply(
      res,
      200,
      JSON.stringify({ 'Number Deleted': deleted, 'Number Not Found': notFound, Errors: errors, 'Response Status': status, 'Response Body': '' }),
    );
  }
  if (method === 'GET') {
    objects.count('list containers');
    const names = page(objects.containerNames(), url);
    return reply(res, 200, JSON.stringify(names.map((name) => ({ name, count: objects.objectsOf(name)?.size ?? 0, bytes: 0 }))));
  }
  return reply(res, 405, 'method not allowed');
}

function handleContainer(objects: SinkObjects, method: string, container: string, url: URL, res: ServerResponse): void {
  objects.count(`${method} container`);
  if (method === 'PUT') return reply(res, objects.createContainer(container) ? 201 : 202, '');
  if (method === 'DELETE') {
    const outcome = objects.deleteContainer(container);
    return reply(res, outcome === 'deleted' ? 204 : outcome === 'missing' ? 404 : 409, '');
  }
  const held = objects.objectsOf(container);
  if (!held) return reply(res, 404, 'not found');
  if (method === 'HEAD') return reply(res, 204, '', { 'x-container-object-count': String(held.size) });
  if (method !== 'GET') return reply(res, 405, 'method not allowed');
  const entries = listing([...held.keys()].sort(), url).map((entry) => {
    if ('subdir' in entry) return entry;
    const o = held.get(entry.name) as SinkObject;
    return { name: entry.name, bytes: o.body.length, hash: o.md5, content_type: o.contentType, last_modified: o.lastModified.toISOString() };
  });
  return reply(res, 200, JSON.stringify(entries));
}

async function handleObject(objects: SinkObjects, method: string, container: string, name: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  objects.count(`${method} object`);
  if (method === 'PUT') {
    const body = await readBody(req);
    objects.counts.bytesReceived += body.length;
    const stated = req.headers.etag?.replace(/"/g, '');
    if (stated && stated !== md5Hex(body)) return reply(res, 422, 'unprocessable entity');
    if (req.headers['if-none-match'] === '*' && objects.get(container, name)) return reply(res, 412, 'precondition failed');
    const stored = objects.put(container, name, body, String(req.headers['content-type'] ?? 'application/octet-stream'), metadataOf(req));
    if (!stored) return reply(res, 507, 'the sink is full (its memory bound)');
    return reply(res, 201, '', { etag: stored.md5 });
  }
  if (method === 'DELETE') return reply(res, objects.delete(container, name) ? 204 : 404, '');
  const object = objects.get(container, name);
  if (!object) return reply(res, 404, 'not found');
  const headers: Record<string, string> = {
    etag: object.md5,
    'content-type': object.contentType,
    'last-modified': object.lastModified.toUTCString(),
    ...Object.fromEntries(Object.entries(object.metadata).map(([k, v]) => [`x-object-meta-${k}`, v])),
  };
  if (method === 'HEAD') {
    res.writeHead(200, { ...headers, 'content-length': String(object.body.length) });
    return void res.end();
  }
  if (method !== 'GET') return reply(res, 405, 'method not allowed');
  const range = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
  if (range) {
    const from = Number(range[1]);
    const to = Math.min(Number(range[2]), object.body.length - 1);
    if (from > to) return reply(res, 416, 'range not satisfiable');
    res.writeHead(206, { ...headers, 'content-length': String(to - from + 1), 'content-range': `bytes ${from}-${to}/${object.body.length}` });
    return void res.end(object.body.subarray(from, to + 1));
  }
  res.writeHead(200, { ...headers, 'content-length': String(object.body.length) });
  res.end(object.body);
}

/** Names of a listing page: after the marker, under the prefix, rolled up at the delimiter, at most `limit`. */
function listing(sorted: string[], url: URL): ({ name: string } | { subdir: string })[] {
  const prefix = url.searchParams.get('prefix') ?? '';
  const delimiter = url.searchParams.get('delimiter');
  const entries: ({ name: string } | { subdir: string })[] = [];
  const seen = new Set<string>();
  for (const name of page(sorted, url, Number.MAX_SAFE_INTEGER)) {
    if (!name.startsWith(prefix)) continue;
    const cut = delimiter ? name.indexOf(delimiter, prefix.length) : -1;
    if (cut >= 0) {
      const subdir = name.slice(0, cut + 1);
      if (!seen.has(subdir)) entries.push({ subdir });
      seen.add(subdir);
    } else {
      entries.push({ name });
    }
  }
  return entries.slice(0, limitOf(url));
}

function page(sorted: string[], url: URL, limit = limitOf(url)): string[] {
  const marker = url.searchParams.get('marker') ?? '';
  const prefix = url.searchParams.get('prefix') ?? '';
  return sorted.filter((n) => n > marker && n.startsWith(prefix)).slice(0, limit);
}

function limitOf(url: URL): number {
  return Math.min(10_000, Number(url.searchParams.get('limit') ?? 10_000));
}

function metadataOf(req: IncomingMessage): Record<string, string> {
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(req.headers)) {
    if (key.startsWith('x-object-meta-') && value !== undefined) metadata[key.slice(14)] = String(value);
  }
  return metadata;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
}

function reply(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-length': String(Buffer.byteLength(body)), ...headers });
  res.end(body);
}
