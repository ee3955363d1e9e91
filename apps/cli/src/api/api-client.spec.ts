import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { ApiClient } from './api-client';
import { DEFAULT_TOKEN, StaticToken } from './credentials';

describe(ApiClient.name, () => {
  let server: Server;
  let url: string;
  const seen: { auth?: string; body?: string } = {};

  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.auth = req.headers.authorization;
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        seen.body = body;
        if (req.url === '/v1/volumes/missing') {
          res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ statusCode: 404, message: 'volume missing not found' }));
        } else if (req.url === '/v1/hosts' && req.headers.authorization !== 'Bearer tok-123') {
          res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ statusCode: 401, message: 'missing X-Auth-Token' }));
        } else if (req.url === '/v1/garbage') {
          res.writeHead(200).end('<html>');
        } else {
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true }));
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise((r) => server.close(r)));

  it('sends the bearer token and the JSON body', async () => {
    await expect(new ApiClient(url, 'tok-123').post('/v1/volumes', { sizeBytes: 1 })).resolves.toEqual({ ok: true });
    expect(seen.auth).toBe('Bearer tok-123');
    expect(JSON.parse(seen.body!)).toEqual({ sizeBytes: 1 });
  });

  it('turns an API error into its message and status', async () => {
    await expect(new ApiClient(url, 't').get('/v1/volumes/missing')).rejects.toThrow('volume missing not found (HTTP 404)');
  });

  it('says how to set credentials when the API refuses a caller who gave none, and only then', async () => {
    const none = new ApiClient(url, new StaticToken(DEFAULT_TOKEN, true));
    await expect(none.get('/v1/hosts')).rejects.toThrow(/missing X-Auth-Token \(HTTP 401\); no credentials are set: set OS_AUTH_URL, OS_USERNAME/);
    await expect(new ApiClient(url, 'wrong').get('/v1/hosts')).rejects.toThrow(/^missing X-Auth-Token \(HTTP 401\)$/);
    await expect(new ApiClient(url, 'tok-123').get('/v1/hosts')).resolves.toEqual({ ok: true });
  });

  it('says clearly when the API is unreachable or answers something else than JSON', async () => {
    await expect(new ApiClient('http://127.0.0.1:1', 't').get('/v1/hosts')).rejects.toThrow(/cannot reach the island API at http:\/\/127.0.0.1:1/);
    await expect(new ApiClient(url, 't').get('/v1/garbage')).rejects.toThrow(/not JSON/);
  });
});
