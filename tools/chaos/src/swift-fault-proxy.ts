import { createServer, IncomingMessage, request as httpRequest, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { Random } from './random';

export const SWIFT_FAULTS = ['5xx', 'stall', 'reset', 'flip'] as const;
export type SwiftFault = (typeof SWIFT_FAULTS)[number];
/** The chance of each fault per storage request (auth requests are passed through untouched). */
export type FaultRates = Record<SwiftFault, number>;

export const NO_FAULTS: FaultRates = { '5xx': 0, stall: 0, reset: 0, flip: 0 };

/**
 * An HTTP proxy in front of a Swift proxy server that the chaos suite controls: at the rates it is set to, a
 * storage request gets a 503 without reaching Swift, waits (a stall) before it is forwarded, has its
 * connection destroyed halfway through the answer (a reset), or has one byte flipped — in an object body it
 * uploads (Swift then refuses it: island sends its MD5) or in one it downloads. Tempauth's answers are passed
 * through with their storage URL pointed at the proxy, so every request of island's Swift clients comes here.
 */
export class SwiftFaultProxy {
  readonly injected: Record<SwiftFault, number> = { '5xx': 0, stall: 0, reset: 0, flip: 0 };
  requests = 0;
  private rates: FaultRates = NO_FAULTS;
  private server?: Server;
  private origin = '';

  constructor(
    private readonly target: URL,
    private readonly random: Random,
    private readonly stallMs: [number, number] = [1_000, 6_000],
  ) {}

  /** Starts listening on a free loopback port; returns the auth URL island should use. */
  async start(): Promise<string> {
    const server = createServer((req, res) => void this.handle(req, res).catch(() => res.destroy()));
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return `${this.origin}${this.target.pathname}`;
  }

  setRates(rates: FaultRates): void {
    this.rates = rates;
  }

  totalInjected(): number {
    return SWIFT_FAULTS.reduce((sum, f) => sum + this.injected[f], 0);
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readAll(req);
    const isAuth = (req.url ?? '').startsWith('/auth');
    if (!isAuth) this.requests += 1;
    const fault = isAuth ? undefined : this.draw(req.method ?? 'GET', req.url ?? '');
    if (fault) this.injected[fault] += 1;
    if (fault === '5xx') {
      res.writeHead(503, { 'content-type': 'text/plain' }).end('injected by the chaos fault proxy');
      return;
    }
    if (fault === 'stall') await new Promise((r) => setTimeout(r, this.random.int(...this.stallMs)));
    if (fault === 'flip' && req.method === 'PUT') flipOneByte(body, this.random);
    const upstream = await this.forward(req, body);
    const headers = { ...upstream.headers };
    if (isAuth && typeof headers['x-storage-url'] === 'string') headers['x-storage-url'] = headers['x-storage-url'].replace(this.target.origin, this.origin);
    const answer = await readAll(upstream);
    if (fault === 'flip' && req.method === 'GET') flipOneByte(answer, this.random);
    res.writeHead(upstream.statusCode ?? 502, headers);
    if (fault === 'reset') {
      // the headers and part of the body, then the connection is gone
      res.write(answer.subarray(0, Math.floor(answer.length / 2)));
      setImmediate(() => res.destroy());
      return;
    }
    res.end(answer);
  }

  /**
   * Which fault (if any) this request gets. Flips hit object bodies only (an object PUT or GET): those carry
   * checksums island must check; a listing has none in Swift's API either, TCP's is what guards it.
   */
  private draw(method: string, url: string): SwiftFault | undefined {
    const isObject = new URL(url, 'http://x').pathname.split('/').filter(Boolean).length >= 4;
    for (const fault of SWIFT_FAULTS) {
      if (fault === 'flip' && !(isObject && (method === 'GET' || method === 'PUT'))) continue;
      if (fault === 'reset' && method === 'HEAD') continue;
      if (this.random.chance(this.rates[fault])) return fault;
    }
    return undefined;
  }

  private forward(req: IncomingMessage, body: Buffer): Promise<IncomingMessage> {
    const headers = { ...req.headers, host: this.target.host };
    delete headers['transfer-encoding'];
    if (body.length > 0 || req.headers['content-length'] !== undefined) headers['content-length'] = String(body.length);
    return new Promise((resolve, reject) => {
      const out = httpRequest({ host: this.target.hostname, port: this.target.port, method: req.method, path: req.url, headers }, resolve);
      out.on('error', reject);
      out.end(body);
    });
  }
}

function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

function flipOneByte(data: Buffer, random: Random): void {
  if (data.length === 0) return;
  const at = random.int(0, data.length - 1);
  data[at] ^= 1 << random.int(0, 7);
}
