import { guestIo, useIsland } from '@island/stack';

const MIB = 1 << 20;
const GIB = 1024 * MIB;
type Json = Record<string, unknown>;

/** Per-project limits set by the admin, enforced on create, extend and snapshot, and visible to the project. */
describe('project quotas', () => {
  const island = useIsland({ env: { ISLAND_QUOTA_SNAPSHOTS: '50' } });
  const io = guestIo(island);

  const volumeCount = async () => (await island.request<{ volumes: Json[] }>('GET', '/v1/volumes')).body.volumes.length;

  it('shows a project its limits (the configured default until the admin sets its own) and what it uses', () => {
    const mine = island.json<Json>('quota', 'show');
    expect(mine).toEqual({
      projectId: 'alpha',
      limits: { volumes: null, snapshots: 50, gigabytes: null },
      usage: { volumes: 0, snapshots: 0, gigabytes: 0 },
      snapshotRetentionSeconds: 0,
      snapshotRetentionIsDefault: true,
    });
    const refused = island.cli('quota', 'set', 'alpha', '--volumes', '100');
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/needs the admin role \(HTTP 403\)/);
    expect(island.cli('quota', 'show', 'beta').stderr).toMatch(/HTTP 403/);
  });

  it('refuses a volume, a snapshot or an extend past a limit with 413 naming the limit, and changes nothing', async () => {
    expect(island.adminJson<Json>('quota', 'set', 'alpha', '--volumes', '2', '--snapshots', '1', '--gigabytes', '3')).toMatchObject({
      limits: { volumes: 2, snapshots: 1, gigabytes: 3 },
    });
    const first = await io.createVolume(GIB);
    const tooBig = await island.request<Json>('POST', '/v1/volumes', { sizeBytes: 3 * GIB });
    expect(tooBig.status).toBe(413);
    expect(String(tooBig.body.message)).toMatch(/quota exceeded: project alpha may have 3 gigabytes, has 1, this request needs 3 more/);
    const second = await io.createVolume(2 * GIB);
    const third = await island.request<Json>('POST', '/v1/volumes', { sizeBytes: MIB });
    expect(third.status).toBe(413);
    expect(String(third.body.message)).toMatch(/may have 2 volumes, has 2/);
    expect(await volumeCount()).toBe(2);

    const extend = await island.request<Json>('POST', `/v1/volumes/${first}/extend`, { sizeBytes: 2 * GIB });
    expect(extend.status).toBe(413);
    expect((await island.request<Json>('GET', `/v1/volumes/${first}`)).body.sizeBytes).toBe(GIB);

    await io.snapshot(second);
    const another = await island.request<Json>('POST', '/v1/snapshots', { volumeId: first });
    expect(another.status).toBe(413);
    expect(String(another.body.message)).toMatch(/may have 1 snapshots, has 1/);
    expect(island.json<Json>('quota', 'show')).toEqual({
      projectId: 'alpha',
      limits: { volumes: 2, snapshots: 1, gigabytes: 3 },
      usage: { volumes: 2, snapshots: 1, gigabytes: 3 },
      snapshotRetentionSeconds: 0,
      snapshotRetentionIsDefault: true,
    });
    // another project is not limited by alpha's quota
    const beta = await island.request<Json>('POST', '/v1/volumes', { sizeBytes: 4 * GIB }, island.otherToken);
    expect(beta.status).toBe(201);

    // back to the defaults: creating works again
    island.adminJson('quota', 'set', 'alpha', '--volumes', 'default', '--snapshots', 'default', '--gigabytes', 'default');
    expect((await island.request<Json>('POST', '/v1/volumes', { sizeBytes: MIB })).status).toBe(201);
  });

  it('counts concurrent requests one after another: never more than the limit', async () => {
    island.adminJson('quota', 'set', 'beta', '--volumes', '4');
    const before = (await island.request<{ volumes: Json[] }>('GET', '/v1/volumes', undefined, island.otherToken)).body.volumes.length;
    const results = await Promise.all(Array.from({ length: 8 }, () => island.request<Json>('POST', '/v1/volumes', { sizeBytes: MIB }, island.otherToken)));
    expect(results.filter((r) => r.status === 201).length).toBe(4 - before);
    expect(results.filter((r) => r.status === 413).length).toBe(8 - (4 - before));
    expect((await island.request<{ volumes: Json[] }>('GET', '/v1/volumes', undefined, island.otherToken)).body.volumes.length).toBe(4);
  });
});
