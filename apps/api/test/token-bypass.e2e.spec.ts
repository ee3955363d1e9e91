import { request as httpRequest } from 'node:http';
import { Client } from 'pg';
import { guestIo, IslandStack, startIsland } from '@island/stack';

const MIB = 1 << 20;

/** Names a lookup in a plain object would find without anyone configuring them. */
const PROTOTYPE_NAMES = [...Object.getOwnPropertyNames(Object.prototype), ...Object.getOwnPropertyNames(Function.prototype), 'prototype'];

/** Bearer tokens that must never let a caller in. Header values go out as latin1 bytes, so UTF-8 is sent as its bytes. */
const BAD_TOKENS: Array<[string, string]> = [
  ...PROTOTYPE_NAMES.map((name): [string, string] => [`the Object.prototype name ${name}`, name]),
  ['an empty token', ''],
  ['an overlong token', 'a'.repeat(8192)],
  ['a non-ASCII token', Buffer.from('island-dev-tökén-🔑', 'utf8').toString('latin1')],
  ['the admin token with a non-ASCII tail', `e2e-admin-token${Buffer.from('é', 'utf8').toString('latin1')}`],
  ['a prefix of the admin token', 'e2e-admin-toke'],
];

/** One request of each route family (every controller and method), with a body where the route takes one. */
const ROUTES: Array<[string, string, object?]> = [
  ['GET', '/v1/volumes'],
  ['POST', '/v1/volumes', { sizeBytes: 8 * MIB }],
  ['GET', '/v1/volumes/:volume'],
  ['POST', '/v1/volumes/:volume/attach', { host: ':host' }],
  ['POST', '/v1/volumes/:volume/detach', {}],
  ['POST', '/v1/volumes/:volume/extend', { sizeBytes: 16 * MIB }],
  ['POST', '/v1/volumes/:volume/revert', { snapshotId: ':snapshot' }],
  ['DELETE', '/v1/volumes/:volume?cascade=true'],
  ['GET', '/v1/snapshots'],
  ['POST', '/v1/snapshots', { volumeId: ':volume' }],
  ['POST', '/v1/snapshots/groups', { volumeIds: [':volume', ':other'] }],
  ['GET', '/v1/snapshots/:snapshot'],
  ['POST', '/v1/snapshots/:snapshot/copy', { region: 'RegionOne' }],
  ['DELETE', '/v1/snapshots/:snapshot'],
  ['GET', '/v1/operations/:operation'],
  ['GET', '/v1/operations?stuck=true'],
  ['POST', '/v1/volumes/:volume/evacuate', { host: ':host' }],
  ['GET', '/v1/dead-letters'],
  ['POST', '/v1/dead-letters/1/retry', {}],
  ['POST', '/v1/gc/runs', {}],
  ['POST', '/v1/fsck', {}],
  ['POST', '/v1/catalog/rebuild', { region: 'RegionOne' }],
  ['GET', '/v1/hosts'],
  ['GET', '/v1/regions'],
];

function send(url: string, method: string, token: string, body?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * The token bypass: a token was looked up in a plain object, so `__proto__` passed as a project's token and other
 * prototype names crashed the guard. Every route family refuses each bad token with 401 and the catalog stays as it was.
 */
describe('tokens that are not configured', () => {
  let island: IslandStack;
  let db: Client;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    island = await startIsland();
    const io = guestIo(island);
    ids.volume = await io.createVolume(8 * MIB);
    const path = await io.attach(ids.volume);
    await io.write(path, 0, Buffer.alloc(MIB, 3));
    const snapshot = await io.snapshot(ids.volume);
    ids.snapshot = String(snapshot.id);
    ids.other = await io.createVolume(8 * MIB);
    ids.host = island.host;
    db = new Client({ connectionString: island.databaseUrl });
    await db.connect();
    ids.operation = (await db.query<{ id: string }>('SELECT id FROM job ORDER BY created_at LIMIT 1')).rows[0].id;
    // the snapshot's follow-up work (dropping the older point in time) ends before the catalog is compared
    for (let i = 0; ; i++) {
      const { rows } = await db.query<{ busy: boolean }>(`SELECT EXISTS (SELECT 1 FROM job WHERE status = 'running') OR EXISTS (SELECT 1 FROM outbox) AS busy`);
      if (!rows[0].busy) break;
      if (i > 600) throw new Error('the stack did not settle');
      await new Promise((r) => setTimeout(r, 100));
    }
  }, 120_000);
  afterAll(async () => {
    await db?.end();
    await island?.stop();
  }, 60_000);

  /** Every row of the tables a request could change, as text. */
  const catalog = async () => {
    const tables = ['volume', 'snapshot', 'job', 'outbox', 'block', 'block_version', 'project'];
    const rows = await Promise.all(
      tables.map(async (t) => (await db.query<{ row: string }>(`SELECT t::text AS row FROM ${t} t ORDER BY 1`)).rows.map((r) => r.row)),
    );
    return Object.fromEntries(tables.map((t, i) => [t, rows[i]]));
  };
  const fill = (text: string) => text.replace(/:(volume|snapshot|other|host|operation)\b/g, (_, k: string) => ids[k]);

  it.each(BAD_TOKENS)('refuses %s on every route with 401 and changes nothing', async (_, token) => {
    const before = await catalog();
    for (const [method, path, body] of ROUTES) {
      const res = await send(`${island.api}${fill(path)}`, method, token, body ? fill(JSON.stringify(body)) : undefined);
      expect({ route: `${method} ${path}`, status: res.status }).toEqual({ route: `${method} ${path}`, status: 401 });
    }
    expect(await catalog()).toEqual(before);
  });

  it('still lets the configured tokens in (the refusals above are not a broken API)', async () => {
    expect((await send(`${island.api}/v1/volumes/${ids.volume}`, 'GET', island.token)).status).toBe(200);
    expect((await send(`${island.api}/v1/hosts`, 'GET', island.adminToken)).status).toBe(200);
  });
});
