import { Client } from 'pg';
import { IslandStack, localKeystone, startIsland } from '@island/stack';

const MIB = 1 << 20;
type Json = Record<string, unknown>;

/**
 * The API behind the real Keystone of scripts/services.sh: tokens validated there, projects and roles from
 * them. alice is a member of demo-a, bob of demo-b, rita a reader of demo-a, admin an admin.
 */
describe('the API trusts Keystone', () => {
  let island: IslandStack;
  let db: Client;
  const tokens: Record<string, string> = {};
  const ids: Record<string, string> = {};

  const call = async (token: string | undefined, method: string, path: string, body?: object) => {
    const res = await fetch(`${island.api}${path}`, {
      method,
      headers: { ...(token !== undefined && { 'x-auth-token': token }), ...(body && { 'content-type': 'application/json' }) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as Json };
  };

  const until = async (token: string, path: string, done: (b: Json) => boolean) => {
    for (let i = 0; i < 600; i++) {
      const { body } = await call(token, 'GET', path);
      if (done(body)) return body;
      if (body.status === 'error') throw new Error(`${path}: ${JSON.stringify(body)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${path} did not settle`);
  };

  /** A volume with an image on the host and one snapshot, owned by the token's project. */
  const volumeWithSnapshot = async (token: string) => {
    const volume = await call(token, 'POST', '/v1/volumes', { sizeBytes: 8 * MIB });
    expect(volume.status).toBe(201);
    const id = String(volume.body.id);
    expect((await call(token, 'POST', `/v1/volumes/${id}/attach`, { host: island.host })).status).toBe(202);
    await until(token, `/v1/volumes/${id}`, (v) => v.status === 'in-use');
    const snapshot = await call(token, 'POST', '/v1/snapshots', { volumeId: id });
    await until(token, `/v1/snapshots/${String(snapshot.body.id)}`, (s) => s.status === 'available');
    await call(token, 'POST', `/v1/volumes/${id}/detach`);
    await until(token, `/v1/volumes/${id}`, (v) => v.status === 'available');
    return { volume: id, snapshot: String(snapshot.body.id) };
  };

  beforeAll(async () => {
    island = await startIsland({ env: { ...localKeystone.islandEnv(), ISLAND_KEYSTONE_CACHE_SECONDS: '2' } });
    for (const user of ['alice', 'bob', 'rita', 'admin'] as const) tokens[user] = (await localKeystone.token(user)).token;
    const a = await volumeWithSnapshot(tokens.alice);
    const b = await volumeWithSnapshot(tokens.bob);
    Object.assign(ids, { va: a.volume, sa: a.snapshot, vb: b.volume, sb: b.snapshot });
    db = new Client({ connectionString: island.databaseUrl });
    await db.connect();
  }, 180_000);
  afterAll(async () => {
    await db?.end();
    await island?.stop();
  }, 60_000);

  /** Every row of the tables a request could change, as text (jobs' heartbeat-free columns only). */
  const catalog = async () => {
    const rows = async (sql: string) => (await db.query<{ row: string }>(sql)).rows.map((r) => r.row);
    return {
      volumes: await rows(`SELECT (id, project_id, status, size_bytes, host, attached)::text AS row FROM volume ORDER BY id`),
      snapshots: await rows(`SELECT (id, project_id, status)::text AS row FROM snapshot ORDER BY id`),
      jobs: await rows(`SELECT (id, kind, status)::text AS row FROM job ORDER BY id`),
    };
  };

  it("keeps each member inside its own project: every route on another project's volume or snapshot answers 404 and changes nothing", async () => {
    const before = await catalog();
    const attempts: Array<[string, string, object?]> = [
      ['GET', `/v1/volumes/${ids.vb}`],
      ['POST', `/v1/volumes/${ids.vb}/attach`, { host: island.host }],
      ['POST', `/v1/volumes/${ids.vb}/detach`, {}],
      ['POST', `/v1/volumes/${ids.vb}/extend`, { sizeBytes: 16 * MIB }],
      ['POST', `/v1/volumes/${ids.vb}/revert`, { snapshotId: ids.sb }],
      ['DELETE', `/v1/volumes/${ids.vb}?cascade=true`],
      ['POST', '/v1/volumes', { sizeBytes: 8 * MIB, snapshotId: ids.sb }],
      ['POST', '/v1/snapshots', { volumeId: ids.vb }],
      ['POST', '/v1/snapshots/groups', { volumeIds: [ids.va, ids.vb] }],
      ['GET', `/v1/snapshots?volumeId=${ids.vb}`],
      ['GET', `/v1/snapshots/${ids.sb}`],
      ['POST', `/v1/snapshots/${ids.sb}/copy`, { region: 'RegionOne' }],
      ['DELETE', `/v1/snapshots/${ids.sb}`],
      ['GET', `/v1/snapshots?deleted=true&volumeId=${ids.vb}`],
      ['POST', `/v1/snapshots/${ids.sb}/undelete`, {}],
    ];
    const bobsJob = (await db.query<{ id: string }>('SELECT id FROM job WHERE resource_id = $1 LIMIT 1', [ids.vb])).rows[0].id;
    attempts.push(['GET', `/v1/operations/${bobsJob}`]);
    for (const [method, path, body] of attempts) {
      const res = await call(tokens.alice, method, path, body);
      expect({ route: `${method} ${path}`, status: res.status }).toEqual({ route: `${method} ${path}`, status: 404 });
    }
    // running operations: only the project's own; evacuation and dead letters are the admin's
    const listed = ((await call(tokens.alice, 'GET', '/v1/operations')).body.operations as Json[]).map((o) => o.resourceId);
    expect(listed).not.toContain(ids.vb);
    expect(listed).not.toContain(ids.sb);
    expect((await call(tokens.alice, 'POST', `/v1/volumes/${ids.vb}/evacuate`, { host: island.host })).status).toBe(403);
    expect((await call(tokens.alice, 'GET', '/v1/dead-letters')).status).toBe(403);
    expect((await call(tokens.alice, 'POST', '/v1/dead-letters/1/retry', {})).status).toBe(403);
    // purging a snapshot past the recycle bin is the admin's, even in the member's own project
    expect((await call(tokens.alice, 'DELETE', `/v1/snapshots/${ids.sa}?purge=true`)).status).toBe(403);
    // projects' keys are the admin's: not listed, rotated or shredded by a member (not even its own project's)
    const alicesProject = (await localKeystone.token('alice')).projectId;
    expect((await call(tokens.alice, 'GET', '/v1/keys')).status).toBe(403);
    expect((await call(tokens.alice, 'POST', '/v1/keys/rotate', {})).status).toBe(403);
    for (const project of [alicesProject, (await localKeystone.token('bob')).projectId]) {
      expect((await call(tokens.alice, 'POST', `/v1/projects/${project}/key/shred`, { confirm: project })).status).toBe(403);
    }
    // quotas name projects: another project's answer 403, its limits cannot be set
    const bobsProject = (await localKeystone.token('bob')).projectId;
    expect((await call(tokens.alice, 'GET', `/v1/quotas/${bobsProject}`)).status).toBe(403);
    expect((await call(tokens.alice, 'PUT', `/v1/quotas/${bobsProject}`, { volumes: 0 })).status).toBe(403);
    expect((await call(tokens.alice, 'GET', '/v1/volumes')).body.volumes).toEqual([expect.objectContaining({ id: ids.va })]);
    expect(((await call(tokens.alice, 'GET', '/v1/snapshots')).body.snapshots as Json[]).map((s) => s.id)).toEqual([ids.sa]);
    expect(await catalog()).toEqual(before);
  });

  it('lets a reader read its project and nothing more, naming the role a write needs', async () => {
    const before = await catalog();
    expect((await call(tokens.rita, 'GET', '/v1/volumes')).body.volumes).toEqual([expect.objectContaining({ id: ids.va })]);
    expect((await call(tokens.rita, 'GET', `/v1/snapshots/${ids.sa}`)).status).toBe(200);
    expect((await call(tokens.rita, 'GET', '/v1/snapshots?deleted=true')).body).toEqual({ snapshots: [], nextMarker: null });
    for (const [method, path, body] of [
      ['POST', '/v1/volumes', { sizeBytes: 8 * MIB }],
      ['POST', '/v1/snapshots', { volumeId: ids.va }],
      ['DELETE', `/v1/snapshots/${ids.sa}`, undefined],
      ['POST', `/v1/snapshots/${ids.sa}/undelete`, {}],
      ['POST', `/v1/volumes/${ids.va}/attach`, { host: island.host }],
    ] as const) {
      const res = await call(tokens.rita, method, path, body);
      expect(res.status).toBe(403);
      expect(String(res.body.message)).toMatch(/needs role member or admin/);
    }
    expect(await catalog()).toEqual(before);
  });

  it('gives the admin role every project and the admin operations, which members may not start', async () => {
    const all = ((await call(tokens.admin, 'GET', '/v1/volumes')).body.volumes as Json[]).map((v) => v.id);
    expect(all).toEqual(expect.arrayContaining([ids.va, ids.vb]));
    const gc = await call(tokens.alice, 'POST', '/v1/gc/runs', {});
    expect(gc.status).toBe(403);
    expect((await call(tokens.admin, 'POST', '/v1/gc/runs', {})).status).toBe(202);
  });

  it("finds a project the admin names by its Keystone name, so a quota set as `demo-a` binds alice's project, and refuses names Keystone does not know", async () => {
    const alicesProject = (await localKeystone.token('alice')).projectId;
    const bobsProject = (await localKeystone.token('bob')).projectId;
    const set = await call(tokens.admin, 'PUT', '/v1/quotas/demo-a', { snapshots: 7, snapshotRetentionSeconds: 3600 });
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({ projectId: alicesProject, limits: { snapshots: 7 }, snapshotRetentionSeconds: 3600 });
    // what alice's own requests are held to: her project's id, whichever way the admin named it
    expect((await call(tokens.alice, 'GET', '/v1/quotas')).body).toMatchObject({ projectId: alicesProject, limits: { snapshots: 7 } });
    expect((await call(tokens.admin, 'GET', `/v1/quotas/${alicesProject}`)).body).toMatchObject({ snapshotRetentionSeconds: 3600 });
    // a member may name its own project either way; another project, by name or not existing, is refused alike
    expect((await call(tokens.alice, 'GET', '/v1/quotas/demo-a')).body).toMatchObject({ projectId: alicesProject });
    expect((await call(tokens.alice, 'GET', '/v1/quotas/demo-b')).status).toBe(403);
    expect((await call(tokens.alice, 'GET', '/v1/quotas/no-such-project')).status).toBe(403);
    // the admin naming a project Keystone does not have changes nothing
    const unknown = await call(tokens.admin, 'PUT', '/v1/quotas/no-such-project', { volumes: 1 });
    expect(unknown.status).toBe(404);
    expect(String(unknown.body.message)).toBe('project no-such-project not found');
    expect((await db.query('SELECT 1 FROM project WHERE id = $1', ['no-such-project'])).rowCount).toBe(0);
    expect((await call(tokens.admin, 'POST', '/v1/projects/no-such-project/key/shred', { confirm: 'no-such-project' })).status).toBe(404);
    expect((await call(tokens.admin, 'GET', `/v1/quotas/${bobsProject}`)).body).toMatchObject({ limits: { snapshots: null } });
    await call(tokens.admin, 'PUT', `/v1/quotas/${alicesProject}`, { snapshots: null, snapshotRetentionSeconds: null });
  });

  it("treats the admin role of any other project (a service's user in `service`) as that project's member, not island's admin", async () => {
    const service = await localKeystone.token('island');
    const volumes = await call(service.token, 'GET', '/v1/volumes');
    expect(volumes.status).toBe(200);
    expect((volumes.body.volumes as Json[]).map((v) => v.id)).not.toContain(ids.va);
    expect((await call(service.token, 'GET', `/v1/volumes/${ids.va}`)).status).toBe(404);
    expect((await call(service.token, 'POST', '/v1/gc/runs', {})).status).toBe(403);
  });

  it('refuses requests without a valid project-scoped token, and static tokens altogether', async () => {
    expect((await call(undefined, 'GET', '/v1/volumes')).status).toBe(401);
    expect((await call('not-a-keystone-token', 'GET', '/v1/volumes')).status).toBe(401);
    const unscoped = await call(await localKeystone.unscopedToken('alice'), 'GET', '/v1/volumes');
    expect(unscoped).toMatchObject({ status: 401, body: { message: expect.stringMatching(/not scoped to a project/) } });
    const staticToken = await fetch(`${island.api}/v1/volumes`, { headers: { authorization: `Bearer ${island.token}` } });
    expect(staticToken.status).toBe(401);
    // nor does any answer name the server's framework
    expect(staticToken.headers.get('x-powered-by')).toBeNull();
    const answered = await fetch(`${island.api}/v1/volumes`, { headers: { 'x-auth-token': tokens.alice } });
    expect({ status: answered.status, poweredBy: answered.headers.get('x-powered-by') }).toEqual({ status: 200, poweredBy: null });
  });

  it('shows /metrics and /docs to the admin alone', async () => {
    for (const page of ['/metrics', '/docs']) {
      expect((await fetch(`${island.api}${page}`)).status).toBe(401);
      expect((await fetch(`${island.api}${page}`, { headers: { 'x-auth-token': tokens.alice } })).status).toBe(403);
      expect((await fetch(`${island.api}${page}`, { headers: { 'x-auth-token': tokens.admin } })).status).toBe(200);
    }
  });

  it("documents the API's routes in its OpenAPI document, without the probes every service has", async () => {
    const res = await fetch(`${island.api}/docs/openapi.json`, { headers: { 'x-auth-token': tokens.admin } });
    expect(res.status).toBe(200);
    const paths = Object.keys(((await res.json()) as { paths: Json }).paths);
    expect(paths).toEqual(expect.arrayContaining(['/v1/volumes', '/v1/snapshots/{id}']));
    expect(paths.filter((p) => ['/healthz', '/readyz', '/metrics'].includes(p))).toEqual([]);
  });

  it('stops honouring a revoked token within the cache bound', async () => {
    const { token } = await localKeystone.token('alice');
    expect((await call(token, 'GET', '/v1/volumes')).status).toBe(200);
    await localKeystone.revoke(token);
    await new Promise((r) => setTimeout(r, 2500)); // ISLAND_KEYSTONE_CACHE_SECONDS=2
    expect((await call(token, 'GET', '/v1/volumes')).status).toBe(401);
  });
});
