import { createHash } from 'node:crypto';
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { Random } from './random';
import { NO_FAULTS, SwiftFaultProxy } from './swift-fault-proxy';

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

/** A stand-in for Swift's proxy: tempauth's answer, and objects kept in memory with their MD5 as ETag. */
async function fakeSwift(): Promise<{ server: Server; url: string; objects: Map<string, Buffer> }> {
  const objects = new Map<string, Buffer>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const { port } = server.address() as AddressInfo;
      if (req.url === '/auth/v1.0') {
        res.writeHead(200, { 'x-storage-url': `http://127.0.0.1:${port}/v1/AUTH_test`, 'x-auth-token': 't' }).end();
      } else if (req.method === 'PUT') {
        if (req.headers.etag && req.headers.etag !== md5(body)) return void res.writeHead(422).end();
        objects.set(req.url!, body);
        res.writeHead(201, { etag: md5(body) }).end();
      } else {
        const object = objects.get(req.url!);
        if (!object) return void res.writeHead(404).end();
        res.writeHead(200, { etag: md5(object), 'content-length': object.length }).end(object);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/auth/v1.0`, objects };
}

describe('the Swift fault proxy', () => {
  let swift: Awaited<ReturnType<typeof fakeSwift>>;
  let proxy: SwiftFaultProxy;
  let authUrl: string;
  const object = Buffer.from('a block body '.repeat(100));

  beforeEach(async () => {
    swift = await fakeSwift();
    proxy = new SwiftFaultProxy(new URL(swift.url), new Random(7), [50, 60]);
    authUrl = await proxy.start();
  });
  afterEach(async () => {
    await proxy.close();
    await new Promise((r) => swift.server.close(r));
  });

  const storage = async () => (await fetch(authUrl)).headers.get('x-storage-url')!;
  const put = async (url: string, body: Buffer) => fetch(url, { method: 'PUT', body, headers: { etag: md5(body) } });

  it('points the storage URL tempauth answers at itself and passes requests through untouched without faults', async () => {
    const url = `${await storage()}/c/o`;
    expect(url.startsWith(authUrl.replace('/auth/v1.0', ''))).toBe(true);
    expect((await put(url, object)).status).toBe(201);
    const got = Buffer.from(await (await fetch(url)).arrayBuffer());
    expect(got.equals(object)).toBe(true);
    expect(proxy.totalInjected()).toBe(0);
    expect(proxy.requests).toBe(2);
  });

  it('answers 503 without reaching Swift when a 5xx is drawn', async () => {
    proxy.setRates({ ...NO_FAULTS, '5xx': 1 });
    const res = await put(`${await storage()}/c/o`, object);
    expect(res.status).toBe(503);
    expect(swift.objects.size).toBe(0);
    expect(proxy.injected['5xx']).toBe(1);
  });

  it('flips one byte of an uploaded body, which Swift then refuses, and of a downloaded one, which no longer matches its ETag', async () => {
    const url = `${await storage()}/c/o`;
    proxy.setRates({ ...NO_FAULTS, flip: 1 });
    expect((await put(url, object)).status).toBe(422);
    proxy.setRates(NO_FAULTS);
    await put(url, object);
    proxy.setRates({ ...NO_FAULTS, flip: 1 });
    const res = await fetch(url);
    const got = Buffer.from(await res.arrayBuffer());
    expect(got.length).toBe(object.length);
    expect(got.equals(object)).toBe(false);
    expect(md5(got)).not.toBe(res.headers.get('etag'));
    expect(proxy.injected.flip).toBe(2);
  });

  it('cuts the connection halfway through an answer when a reset is drawn', async () => {
    const url = `${await storage()}/c/o`;
    await put(url, object);
    proxy.setRates({ ...NO_FAULTS, reset: 1 });
    await expect(fetch(url).then((r) => r.arrayBuffer())).rejects.toThrow();
    expect(proxy.injected.reset).toBe(1);
  });

  it('holds a request for a while before forwarding it when a stall is drawn', async () => {
    const url = `${await storage()}/c/o`;
    proxy.setRates({ ...NO_FAULTS, stall: 1 });
    const started = Date.now();
    expect((await put(url, object)).status).toBe(201);
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
    expect(proxy.injected.stall).toBe(1);
  });
});
