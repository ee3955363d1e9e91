import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { ApiClient } from './api-client';
import { credentialsFromEnv } from './credentials';

/** A stand-in Keystone (unit test): issues a token for alice in demo-a, with an `island` endpoint in its catalog. */
describe('credentials from the environment', () => {
  let server: Server;
  let keystone: string;
  let requests: { url?: string; body: string; headers: Record<string, unknown> }[];

  beforeAll(async () => {
    requests = [];
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        requests.push({ url: req.url, body, headers: req.headers });
        if (req.url === '/v3/auth/tokens') {
          const auth = JSON.parse(body) as { auth: { identity: { password: { user: { name: string; password: string } } } } };
          if (auth.auth.identity.password.user.password !== 'secret') return void res.writeHead(401).end('{}');
          res.writeHead(201, { 'content-type': 'application/json', 'x-subject-token': 'tok-alice' }).end(
            JSON.stringify({
              token: { catalog: [{ type: 'island', endpoints: [{ interface: 'public', region_id: 'RegionOne', url: `${keystone}/island/` }] }] },
            }),
          );
        } else {
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ seen: req.headers['x-auth-token'] ?? req.headers.authorization }));
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    keystone = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise((r) => server.close(r)));

  const os = (extra: Record<string, string> = {}) => ({
    OS_AUTH_URL: `${keystone}/v3`,
    OS_USERNAME: 'alice',
    OS_PASSWORD: 'secret',
    OS_PROJECT_NAME: 'demo-a',
    ...extra,
  });

  it('gets a Keystone token with OS_* like the openstack client, finds the API in the catalog and sends X-Auth-Token', async () => {
    const client = new ApiClient(undefined, credentialsFromEnv(os()));
    await expect(client.get('/v1/hosts')).resolves.toEqual({ seen: 'tok-alice' });
    expect(await client.baseUrl()).toBe(`${keystone}/island`);
    const issued = JSON.parse(requests.find((r) => r.url === '/v3/auth/tokens')!.body) as Record<string, unknown>;
    expect(issued).toEqual({
      auth: {
        identity: { methods: ['password'], password: { user: { name: 'alice', domain: { name: 'Default' }, password: 'secret' } } },
        scope: { project: { name: 'demo-a', domain: { name: 'Default' } } },
      },
    });
  });

  it('asks Keystone once per process however many requests follow', async () => {
    const before = requests.filter((r) => r.url === '/v3/auth/tokens').length;
    const client = new ApiClient(keystone, credentialsFromEnv(os()));
    for (let i = 0; i < 3; i++) await client.get('/v1/volumes');
    expect(requests.filter((r) => r.url === '/v3/auth/tokens').length).toBe(before + 1);
  });

  it('says which credentials Keystone refused', async () => {
    await expect(new ApiClient(keystone, credentialsFromEnv(os({ OS_PASSWORD: 'wrong' }))).get('/v1/hosts')).rejects.toThrow(
      /refused user alice in project demo-a \(HTTP 401\)/,
    );
  });

  it('sends OS_TOKEN as X-Auth-Token and ISLAND_TOKEN as a bearer token, ISLAND_TOKEN first', async () => {
    await expect(new ApiClient(keystone, credentialsFromEnv({ OS_TOKEN: 'given' })).get('/x')).resolves.toEqual({ seen: 'given' });
    await expect(new ApiClient(keystone, credentialsFromEnv({ ...os(), ISLAND_TOKEN: 'static-1' })).get('/x')).resolves.toEqual({ seen: 'Bearer static-1' });
  });

  it('finds the v3 API below an OS_AUTH_URL given without its version, and takes domains by id', async () => {
    const client = new ApiClient(keystone, credentialsFromEnv(os({ OS_AUTH_URL: keystone, OS_USER_DOMAIN_ID: 'default', OS_PROJECT_DOMAIN_ID: 'default' })));
    await expect(client.get('/v1/hosts')).resolves.toEqual({ seen: 'tok-alice' });
    const issued = JSON.parse(requests.filter((r) => r.url === '/v3/auth/tokens').pop()!.body) as {
      auth: { identity: { password: { user: { domain: unknown } } } };
    };
    expect(issued.auth.identity.password.user.domain).toEqual({ id: 'default' });
  });

  it('names the OS_* variables that are missing', () => {
    expect(() => credentialsFromEnv({ OS_AUTH_URL: `${keystone}/v3`, OS_USERNAME: 'alice' })).toThrow(/OS_PASSWORD, OS_PROJECT_NAME are not/);
  });
});
