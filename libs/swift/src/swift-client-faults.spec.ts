import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { createHash } from 'node:crypto';
import { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { backoffDelay, KeystoneV3Auth, SwiftChecksumError, SwiftClient, SwiftProtocolError, SwiftRequestError, SwiftUnavailableError, TempAuth } from './index';

/**
 * Faults the real Swift will not produce on demand (5xx, resets, stalls, broken JSON) come from a local
 * HTTP server that speaks just enough of tempauth/Keystone and Swift.
 */
type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

async function fakeSwift(handler: Handler): Promise<{ url: string; requests: string[]; server: Server }> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = req.url ?? '';
      if (url === '/auth/v1.0') {
        res.writeHead(200, { 'x-auth-token': `tok-${requests.filter((r) => r === 'auth').length}`, 'x-storage-url': `${base}/v1/AUTH_t` });
        requests.push('auth');
        res.end();
        return;
      }
      requests.push(`${req.method} ${url} ${req.headers['x-auth-token'] ?? ''}`);
      handler(req, res, Buffer.concat(chunks));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url: base, requests, server };
}

const fastRetry = { retries: 3, baseDelayMs: 1, maxDelayMs: 5 };

describe('SwiftClient under faults', () => {
  const servers: Server[] = [];
  const clients: SwiftClient[] = [];
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    servers.splice(0).forEach((s) => s.close());
  });

  async function setup(handler: Handler, options: { timeoutMs?: number; retries?: number } = {}) {
    const fake = await fakeSwift(handler);
    servers.push(fake.server);
    const client = new SwiftClient({
      auth: new TempAuth(`${fake.url}/auth/v1.0`, 'u', 'k'),
      timeoutMs: options.timeoutMs ?? 2_000,
      retry: { ...fastRetry, retries: options.retries ?? fastRetry.retries },
    });
    clients.push(client);
    return { client, requests: fake.requests };
  }

  it('retries a 503 and succeeds once Swift recovers', async () => {
    let calls = 0;
    const { client, requests } = await setup((_req, res) => {
      calls += 1;
      res.writeHead(calls < 3 ? 503 : 200, { etag: '900150983cd24fb0d6963f7d28e17f72' });
      res.end(calls < 3 ? 'busy' : 'abc');
    });
    expect((await client.getObject('c', 'o')).toString()).toBe('abc');
    expect(requests.filter((r) => r.startsWith('GET'))).toHaveLength(3);
  });

  it('sends the same bytes again when a PUT of bytes meets a 503 or a connection reset, and returns the ETag of the attempt that stored them', async () => {
    const data = Buffer.from('block bytes');
    const md5 = createHash('md5').update(data).digest('hex');
    const bodies: string[] = [];
    const { client, requests } = await setup((req, res, body) => {
      bodies.push(body.toString());
      if (bodies.length === 1) {
        res.writeHead(503);
        res.end('busy');
      } else if (bodies.length === 2) {
        req.socket.destroy();
      } else {
        res.writeHead(201, { etag: `"${String(req.headers.etag)}"` });
        res.end();
      }
    });
    expect(await client.putObject('c', 'blocks/one', data)).toBe(md5);
    expect(requests.filter((r) => r.startsWith('PUT /v1/AUTH_t/c/blocks/one'))).toHaveLength(3);
    expect(bodies).toEqual([data.toString(), data.toString(), data.toString()]);
  });

  it('takes the final reply after an informational one, whose headers count for nothing', async () => {
    const data = Buffer.from('abc');
    const { client } = await setup((req, res) => {
      res.writeEarlyHints({ link: '</x>; rel=preload', etag: '"bogus"' });
      res.writeHead(201, { etag: `"${String(req.headers.etag)}"` });
      res.end();
    });
    expect(await client.putObject('c', 'blocks/hinted', data)).toBe(createHash('md5').update(data).digest('hex'));
  });

  it('counts a PUT as stored once its 2xx headers arrive, even when the reply body breaks off after them', async () => {
    const data = Buffer.from('stored bytes');
    const { client, requests } = await setup((req, res) => {
      res.writeHead(201, { etag: `"${String(req.headers.etag)}"`, 'content-length': '100' });
      res.write('Created');
      setTimeout(() => req.socket.destroy(), 20);
    });
    expect(await client.putObject('c', 'blocks/cut', data)).toBe(createHash('md5').update(data).digest('hex'));
    expect(requests.filter((r) => r.startsWith('PUT'))).toHaveLength(1);
  });

  it('gives up after the configured retries with an error naming the object and status', async () => {
    const { client, requests } = await setup((_req, res) => {
      res.writeHead(500);
      res.end('boom');
    });
    const error = await client.headObject('c', 'blocks/x').catch((e) => e);
    expect(error).toBeInstanceOf(SwiftUnavailableError);
    expect(error.message).toBe('Swift HEAD c/blocks/x → 500: no detail');
    expect(requests.filter((r) => r.startsWith('HEAD'))).toHaveLength(4);
  });

  it('never retries a 4xx', async () => {
    const { client, requests } = await setup((_req, res) => {
      res.writeHead(400);
      res.end('bad request');
    });
    const error = await client.putObject('c', 'o', Buffer.from('x')).catch((e) => e);
    expect(error).toBeInstanceOf(SwiftRequestError);
    expect(error.message).toBe('Swift PUT c/o → 400: bad request');
    expect(requests.filter((r) => r.startsWith('PUT'))).toHaveLength(1);
  });

  it('retries a connection reset mid-reply', async () => {
    let calls = 0;
    const { client } = await setup((req, res) => {
      calls += 1;
      if (calls === 1) {
        req.socket.destroy();
        return;
      }
      res.writeHead(200, { etag: '900150983cd24fb0d6963f7d28e17f72' });
      res.end('abc');
    });
    expect((await client.getObject('c', 'o')).toString()).toBe('abc');
    expect(calls).toBe(2);
  });

  it('times out a stalled reply, retries, and reports the timeout when every attempt stalls', async () => {
    const { client, requests } = await setup(() => undefined, { timeoutMs: 200, retries: 1 });
    const error = await client.getObject('c', 'stalled').catch((e) => e);
    expect(error).toBeInstanceOf(SwiftUnavailableError);
    expect(error.message).toMatch(/^Swift GET c\/stalled: .*timeout.*\(after 2 attempts\)$/i);
    expect(requests.filter((r) => r.startsWith('GET'))).toHaveLength(2);
  });

  it('refuses a body read into given memory that ends before its Content-Length, and joins one the memory given cannot hold', async () => {
    let calls = 0;
    const { client } = await setup((req, res) => {
      calls += 1;
      if (req.url?.endsWith('/short')) {
        res.writeHead(200, { 'content-length': '10' });
        res.write('abcd');
        res.destroy();
        return;
      }
      res.writeHead(200, { 'content-length': '3' });
      res.end('abc');
    });
    const lent = Buffer.alloc(10);
    const error = await client.getObject('c', 'short', undefined, { verifyMd5: false, memory: () => lent }).catch((e) => e);
    expect(error).toBeInstanceOf(Error);
    expect(calls).toBeGreaterThan(1); // a cut reply is retried, never returned as the object
    const small = Buffer.alloc(2);
    const body = await client.getObject('c', 'long', undefined, { verifyMd5: false, memory: () => small });
    expect(body.toString()).toBe('abc');
  });

  it('detects a body that does not match its ETag on GET', async () => {
    const { client } = await setup((_req, res) => {
      res.writeHead(200, { etag: '00000000000000000000000000000000' });
      res.end('abc');
    });
    await expect(client.getObject('c', 'o')).rejects.toThrow(
      'Swift GET c/o → 200: received MD5 900150983cd24fb0d6963f7d28e17f72, ETag says 00000000000000000000000000000000',
    );
  });

  it('rejects a PUT whose answered ETag differs from the MD5 sent', async () => {
    const { client } = await setup((_req, res) => {
      res.writeHead(201, { etag: 'ffffffffffffffffffffffffffffffff' });
      res.end();
    });
    await expect(client.putObject('c', 'o', Buffer.from('abc'))).rejects.toThrow(/Swift stored ETag ffff.* but we sent MD5 9001/);
  });

  it('deletes what a streamed PUT stored when the ETag shows its bytes changed on the way, and says so', async () => {
    const { client, requests } = await setup((req, res, body) => {
      if (req.method === 'DELETE') {
        res.writeHead(204).end();
        return;
      }
      const changed = Buffer.from(body);
      changed[0] ^= 1;
      res.writeHead(201, { etag: createHash('md5').update(changed).digest('hex') }).end();
    });
    const error = await client.putObject('c', 'manifest', () => Readable.from([Buffer.from('abc')]), { ifNoneMatch: true }).catch((e) => e);
    expect(error).toBeInstanceOf(SwiftChecksumError);
    expect(error.message).toMatch(/Swift stored ETag [0-9a-f]{32} but we sent MD5 900150983cd24fb0d6963f7d28e17f72; the stored object was deleted$/);
    expect(requests.filter((r) => r !== 'auth').map((r) => r.split(' ').slice(0, 2).join(' '))).toEqual([
      'PUT /v1/AUTH_t/c/manifest',
      'DELETE /v1/AUTH_t/c/manifest',
    ]);
  });

  it('treats a listing that is not JSON as a protocol error, never as an empty list', async () => {
    const { client } = await setup((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('<html>proxy error</html>');
    });
    const error = await client.listObjects('c').catch((e) => e);
    expect(error).toBeInstanceOf(SwiftProtocolError);
    expect(error.message).toBe('Swift list objects c → 200: listing is not JSON');
  });

  it('treats a bulk delete reply without its counts as a protocol error', async () => {
    const { client } = await setup((_req, res) => {
      res.writeHead(200);
      res.end('{"Response Status": "200 OK"}');
    });
    await expect(client.bulkDelete([{ container: 'c', name: 'o' }])).rejects.toBeInstanceOf(SwiftProtocolError);
  });

  it('sends the bulk delete body as URL-encoded lines', async () => {
    let body = '';
    const { client } = await setup((_req, res, received) => {
      body = received.toString();
      res.writeHead(200);
      res.end(JSON.stringify({ 'Response Status': '200 OK', 'Number Deleted': 2, 'Number Not Found': 0, Errors: [] }));
    });
    await client.bulkDelete([{ container: 'c', name: 'a b/c' }, { container: 'c' }]);
    expect(body).toBe('/c/a%20b/c\n/c\n');
  });

  it('authenticates once for many concurrent requests and again after a 401', async () => {
    let refuse = false;
    const { client, requests } = await setup((req, res) => {
      if (refuse && req.headers['x-auth-token'] === 'tok-0') {
        res.writeHead(401);
        res.end();
        return;
      }
      res.writeHead(204);
      res.end();
    });
    await Promise.all(Array.from({ length: 10 }, () => client.deleteObject('c', 'o')));
    expect(requests.filter((r) => r === 'auth')).toHaveLength(1);
    refuse = true;
    await client.deleteObject('c', 'o');
    expect(requests.filter((r) => r === 'auth')).toHaveLength(2);
    expect(requests.at(-1)).toBe('DELETE /v1/AUTH_t/c/o tok-1');
  });
});

describe('Keystone v3 authentication', () => {
  it('scopes to the project and takes the region public object-store endpoint from the catalog', async () => {
    let request: Record<string, unknown> | undefined;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (req.url === '/v3/auth/tokens' && req.method === 'POST') {
          request = JSON.parse(Buffer.concat(chunks).toString());
          res.writeHead(201, { 'x-subject-token': 'ks-token', 'content-type': 'application/json' });
          const endpoint = (region: string, iface: string) => ({ region_id: region, interface: iface, url: `http://${region}-${iface}/v1/AUTH_p/` });
          res.end(
            JSON.stringify({
              token: {
                expires_at: new Date(Date.now() + 3_600_000).toISOString(),
                catalog: [
                  { type: 'identity', endpoints: [endpoint('RegionOne', 'public')] },
                  { type: 'object-store', endpoints: [endpoint('RegionOne', 'public'), endpoint('RegionOne', 'internal'), endpoint('RegionTwo', 'public')] },
                ],
              },
            }),
          );
          return;
        }
        res.writeHead(404);
        res.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v3`;
    const client = new SwiftClient({ auth: new KeystoneV3Auth({ authUrl: url, user: 'u', password: 'p', project: 'proj', region: 'RegionTwo' }) });
    expect(await client.storageUrl()).toBe('http://RegionTwo-public/v1/AUTH_p');
    expect(request).toEqual({
      auth: {
        identity: { methods: ['password'], password: { user: { name: 'u', domain: { name: 'Default' }, password: 'p' } } },
        scope: { project: { name: 'proj', domain: { name: 'Default' } } },
      },
    });
    const ambiguous = new SwiftClient({ auth: new KeystoneV3Auth({ authUrl: url, user: 'u', password: 'p', project: 'proj' }) });
    await expect(ambiguous.storageUrl()).rejects.toThrow('the catalog has 2 public object-store endpoints; exactly one is needed');
    await Promise.all([client.close(), ambiguous.close()]);
    server.close();
  });
});

describe('backoff', () => {
  it('grows exponentially up to the cap and is jittered below it', () => {
    const policy = { retries: 5, baseDelayMs: 100, maxDelayMs: 1_000 };
    expect([0, 1, 2, 3, 4].map((n) => backoffDelay(policy, n, () => 0.999))).toEqual([99, 199, 399, 799, 999]);
    expect(backoffDelay(policy, 3, () => 0)).toBe(0);
  });
});
