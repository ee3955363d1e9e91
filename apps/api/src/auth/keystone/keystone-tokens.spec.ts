import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { IslandConfig } from '@island/config';
import { IdentityUnavailableError, TokenRefusedError } from './keystone-identity';
import { KeystoneTokens } from './keystone-tokens';

/** A scripted Keystone (unit test): which user tokens are valid, what it answers, and what it was asked. */
describe(KeystoneTokens.name, () => {
  let server: Server;
  let url: string;
  const valid = new Map<string, object>();
  let serviceTokens = 0;
  let validations = 0;
  let refuseServiceToken = false;

  const tokenBody = (project: object | undefined, roles: string[], expiresInMs = 3600_000) => ({
    token: {
      expires_at: new Date(Date.now() + expiresInMs).toISOString(),
      user: { id: 'u1' },
      ...(project && { project }),
      roles: roles.map((name) => ({ name })),
    },
  });

  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.method === 'POST') {
        serviceTokens++;
        res
          .writeHead(201, { 'content-type': 'application/json', 'x-subject-token': `service-${serviceTokens}` })
          .end(JSON.stringify(tokenBody({ id: 'svc', name: 'service' }, ['admin', 'service'])));
        return;
      }
      validations++;
      if (refuseServiceToken || req.headers['x-auth-token'] !== `service-${serviceTokens}`) return void res.writeHead(401).end('{}');
      const body = valid.get(String(req.headers['x-subject-token']));
      if (!body) return void res.writeHead(404).end('{}');
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v3`;
  });
  afterAll(() => new Promise((r) => server.close(r)));

  const tokens = (cacheSeconds: number, at = url) =>
    new KeystoneTokens({
      auth: { keystone: { url: at, user: 'island', password: 'pw', project: 'service', domain: 'Default', cacheSeconds } },
    } as unknown as IslandConfig);

  it('takes the project and roles from a valid token', async () => {
    valid.set('alice', tokenBody({ id: 'p-a', name: 'demo-a' }, ['member', 'reader']));
    await expect(tokens(60).validate('alice')).resolves.toMatchObject({ projectId: 'p-a', projectName: 'demo-a', roles: ['member', 'reader'] });
  });

  it('refuses unknown, revoked, unscoped and expired tokens', async () => {
    const t = tokens(60);
    await expect(t.validate('nobody')).rejects.toThrow(TokenRefusedError);
    valid.set('unscoped', tokenBody(undefined, []));
    await expect(t.validate('unscoped')).rejects.toThrow(/not scoped to a project/);
    valid.set('old', tokenBody({ id: 'p-a' }, ['member'], -1000));
    await expect(t.validate('old')).rejects.toThrow(/expired/);
  });

  it('reuses a validation for at most the cache bound, so a revoked token stops working within it', async () => {
    valid.set('bob', tokenBody({ id: 'p-b', name: 'demo-b' }, ['member']));
    const t = tokens(1);
    await t.validate('bob');
    const asked = validations;
    await t.validate('bob');
    expect(validations).toBe(asked);
    valid.delete('bob'); // revoked in Keystone
    await expect(t.validate('bob')).resolves.toMatchObject({ projectId: 'p-b' });
    await new Promise((r) => setTimeout(r, 1100));
    await expect(t.validate('bob')).rejects.toThrow(TokenRefusedError);
  });

  it('gets a new service token when Keystone no longer takes its own, once', async () => {
    valid.set('carol', tokenBody({ id: 'p-a' }, ['member']));
    const t = tokens(0);
    await t.validate('carol');
    const issued = serviceTokens;
    serviceTokens++; // Keystone forgot island's token: the next validation answers 401
    await expect(t.validate('carol')).resolves.toMatchObject({ projectId: 'p-a' });
    expect(serviceTokens).toBe(issued + 2);
    refuseServiceToken = true;
    await expect(t.validate('carol')).rejects.toThrow(IdentityUnavailableError);
    refuseServiceToken = false;
  });

  it('asks Keystone once for concurrent requests with one token, and remembers a refusal briefly', async () => {
    valid.set('dana', tokenBody({ id: 'p-d' }, ['member']));
    const t = tokens(60);
    await t.validate('warm-up').catch(() => undefined); // the service token
    const before = validations;
    await Promise.all(Array.from({ length: 5 }, () => t.validate('dana')));
    expect(validations).toBe(before + 1);
    for (let i = 0; i < 5; i++) await expect(t.validate('forged')).rejects.toThrow(TokenRefusedError);
    expect(validations).toBe(before + 2);
  });

  it('answers unavailable, never a caller, when Keystone cannot be reached', async () => {
    await expect(tokens(60, 'http://127.0.0.1:1/v3').validate('alice')).rejects.toThrow(/unreachable/);
  });
});
