import { spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { blockHashes, guestIo, useIsland } from '@island/stack';

const MIB = 1 << 20;
const SIZE = 8 * MIB;
const RETENTION = 3600;
type Json = Record<string, unknown>;
type RpcOutcome = { result?: unknown; error?: { class: string; kwargs: Json | null } };

/**
 * The recycle bin on the real services: with a retention (ISLAND_SNAPSHOT_RETENTION_SECONDS, or a project's own), a
 * deleted snapshot is gone for every request but `list --deleted` and `undelete`, keeps its blocks through GC, and
 * comes back restoring bit-exact; once its retention ends the purge drops it and GC frees its blocks and manifest.
 */
describe('the snapshot recycle bin', () => {
  const island = useIsland({ env: { ISLAND_SNAPSHOT_RETENTION_SECONDS: String(RETENTION), ISLAND_SWEEP_SECONDS: '1' } });
  const io = guestIo(island);

  const storedBlocks = async () => new Set([...(await island.swiftObjects('blocks/')).keys()].map((name) => name.slice('blocks/'.length)));
  const hashesOf = async (content: Buffer) => blockHashes(content, MIB, await island.projectKeys('alpha'));
  const recycledIds = async (token = island.token) =>
    ((await island.request<{ snapshots: Json[] }>('GET', '/v1/snapshots?deleted=true', undefined, token)).body.snapshots ?? []).map((s) => s.id);

  /** Takes a snapshot after writing `writes` (offset, data) into the volume and the model; returns it with its content. */
  async function snapshotAfter(volumeId: string, path: string, model: Buffer, writes: [number, Buffer][]) {
    for (const [offset, data] of writes) await io.write(path, offset, data, model);
    const snap = await io.snapshot(volumeId);
    return { id: String(snap.id), content: Buffer.from(model) };
  }

  async function expectRestores(snapshot: { id: string; content: Buffer }) {
    const clone = await io.createVolume(SIZE, { snapshotId: snapshot.id });
    const path = await io.attach(clone);
    expect((await io.read(path)).equals(snapshot.content)).toBe(true);
    await io.deleteVolume(clone);
  }

  it('keeps a deleted snapshot out of every request but the bin, and undeleted it restores bit-exact', async () => {
    const volumeId = await io.createVolume(SIZE);
    const path = await io.attach(volumeId);
    const model = Buffer.alloc(SIZE);
    const first = await snapshotAfter(volumeId, path, model, [[0, randomBytes(3 * MIB)]]);
    await snapshotAfter(volumeId, path, model, [[MIB, randomBytes(MIB)]]);
    const usage = () => island.json<{ usage: { snapshots: number } }>('quota', 'show').usage.snapshots;
    const counted = usage();

    const deleted = island.json<Json>('snapshot', 'delete', first.id);
    expect(deleted).toMatchObject({ id: first.id, status: 'recycled' });
    const kept = (Date.parse(String(deleted.purgeAfter)) - Date.parse(String(deleted.deletedAt))) / 1000;
    expect(kept).toBeCloseTo(RETENTION, 0);
    expect((await island.request('GET', `/v1/snapshots/${first.id}`)).status).toBe(404);
    expect((await island.request('GET', `/v1/snapshots/${first.id}/blocks/0`)).status).toBe(404);
    expect(island.json<{ snapshots: Json[] }>('snapshot', 'list').snapshots.map((s) => s.id)).not.toContain(first.id);
    expect(island.json<{ snapshots: Json[] }>('snapshot', 'list', '--deleted').snapshots).toEqual([
      expect.objectContaining({ id: first.id, volumeId, status: 'recycled', deletedAt: deleted.deletedAt, purgeAfter: deleted.purgeAfter }),
    ]);
    // a recycled snapshot restores nothing until undeleted, and still counts against the quota
    const restore = await island.request('POST', '/v1/volumes', { sizeBytes: SIZE, snapshotId: first.id });
    expect(restore.status).toBe(404);
    expect(usage()).toBe(counted);
    // asking again for the same delete: it is gone already (as Cinder's retried delete expects)
    expect((await island.request('DELETE', `/v1/snapshots/${first.id}`)).status).toBe(404);

    const undeleted = island.json<Json>('snapshot', 'undelete', first.id);
    expect(undeleted).toMatchObject({ id: first.id, status: 'available', deletedAt: null, purgeAfter: null });
    expect(await recycledIds()).not.toContain(first.id);
    await expectRestores(first);
    expect(island.adminJson('fsck')).toMatchObject({ ok: true, problems: [] });
  }, 180_000);

  it('never lets GC free a block a recycled snapshot needs, though every other snapshot sharing them is purged', async () => {
    const volumeId = await io.createVolume(SIZE);
    const path = await io.attach(volumeId);
    const model = Buffer.alloc(SIZE);
    const first = await snapshotAfter(volumeId, path, model, [[0, randomBytes(4 * MIB)]]);
    const middle = await snapshotAfter(volumeId, path, model, [[MIB, randomBytes(2 * MIB)]]); // shares blocks 0 and 3 with the first
    const last = await snapshotAfter(volumeId, path, model, [[0, randomBytes(4 * MIB)]]); // the head: none of the middle's blocks
    const needed = await hashesOf(middle.content);
    const firstOnly = [...(await hashesOf(first.content))].filter((h) => !needed.has(h));
    expect(firstOnly).toHaveLength(2);

    expect(island.json('snapshot', 'delete', middle.id)).toMatchObject({ status: 'recycled' });
    for (const other of [first, last]) expect(island.adminJson('snapshot', 'delete', other.id, '--purge')).toMatchObject({ status: 'deleted' });
    const report = island.adminJson('gc', 'run', '--grace', '0', '--wait');
    const stored = await storedBlocks();
    for (const hash of firstOnly) expect(stored.has(hash)).toBe(false); // GC did run: what only the purged first used is gone
    expect(Number(report.blocksDeleted)).toBeGreaterThanOrEqual(firstOnly.length);
    for (const hash of needed) expect(stored.has(hash)).toBe(true);
    expect(island.adminJson('fsck')).toMatchObject({ ok: true, problems: [] });

    expect(island.json('snapshot', 'undelete', middle.id)).toMatchObject({ status: 'available' });
    await expectRestores(middle);
  }, 240_000);

  it("purges a snapshot once its project's retention ends: undelete finds nothing, GC frees its blocks and manifest", async () => {
    expect(island.adminJson('quota', 'set', 'alpha', '--snapshot-retention', '2')).toMatchObject({
      snapshotRetentionSeconds: 2,
      snapshotRetentionIsDefault: false,
    });
    try {
      const volumeId = await io.createVolume(SIZE);
      const path = await io.attach(volumeId);
      const model = Buffer.alloc(SIZE);
      const gone = await snapshotAfter(volumeId, path, model, [[0, randomBytes(2 * MIB)]]);
      await snapshotAfter(volumeId, path, model, [[0, randomBytes(2 * MIB)]]); // overwrites every block of the first
      const own = await hashesOf(gone.content);
      const manifests = async () => [...(await island.swiftObjects(`manifests/${volumeId}/`)).keys()].filter((name) => name.endsWith(gone.id));
      expect(await manifests()).toHaveLength(1);

      const deleted = island.json<Json>('snapshot', 'delete', gone.id);
      expect(deleted).toMatchObject({ status: 'recycled' });
      expect((Date.parse(String(deleted.purgeAfter)) - Date.parse(String(deleted.deletedAt))) / 1000).toBeCloseTo(2, 0);
      const started = Date.now();
      while ((await recycledIds()).includes(gone.id)) {
        if (Date.now() - started > 30_000) throw new Error(`snapshot ${gone.id} still in the bin 30 s after its 2 s retention`);
        await new Promise((r) => setTimeout(r, 250));
      }
      const late = await island.request('POST', `/v1/snapshots/${gone.id}/undelete`);
      expect(late.status).toBe(404);

      island.adminJson('gc', 'run', '--grace', '0', '--wait');
      const stored = await storedBlocks();
      for (const hash of own) expect(stored.has(hash)).toBe(false);
      expect(await manifests()).toEqual([]);
      expect(island.adminJson('fsck')).toMatchObject({ ok: true, problems: [] });
    } finally {
      island.adminJson('quota', 'set', 'alpha', '--snapshot-retention', 'default');
    }
  }, 180_000);

  it("purges a deleted volume's snapshots in the bin with it", async () => {
    const volumeId = await io.createVolume(SIZE);
    const path = await io.attach(volumeId);
    const snap = await snapshotAfter(volumeId, path, Buffer.alloc(SIZE), [[0, randomBytes(MIB)]]);
    expect(island.json('snapshot', 'delete', snap.id)).toMatchObject({ status: 'recycled' });
    await io.deleteVolume(volumeId); // no cascade needed: the bin does not hold a volume back
    expect(await recycledIds()).not.toContain(snap.id);
    expect((await island.request('POST', `/v1/snapshots/${snap.id}/undelete`)).status).toBe(404);
    expect(island.adminJson('fsck')).toMatchObject({ ok: true, problems: [] });
  }, 120_000);

  it("keeps each project to its own bin: another project's snapshot is not found, purging is the admin's", async () => {
    const volumeId = await io.createVolume(SIZE);
    const path = await io.attach(volumeId);
    const model = Buffer.alloc(SIZE);
    const snap = await snapshotAfter(volumeId, path, model, [[0, randomBytes(MIB)]]);
    island.json('snapshot', 'delete', snap.id);

    expect(await recycledIds(island.otherToken)).not.toContain(snap.id);
    const other = await island.request('GET', `/v1/snapshots?deleted=true&volumeId=${volumeId}`, undefined, island.otherToken);
    expect(other.status).toBe(404);
    const undelete = await island.request('POST', `/v1/snapshots/${snap.id}/undelete`, undefined, island.otherToken);
    expect(undelete.status).toBe(404);
    const purge = await island.request<Json>('DELETE', `/v1/snapshots/${snap.id}?purge=true`, undefined, island.token);
    expect(purge).toMatchObject({ status: 403, body: { message: expect.stringMatching(/admin/) } });
    expect(await recycledIds(island.adminToken)).toContain(snap.id);
    expect(await recycledIds()).toContain(snap.id);

    expect(island.adminJson('snapshot', 'delete', snap.id, '--purge')).toMatchObject({ id: snap.id, status: 'deleted' });
    expect(await recycledIds()).not.toContain(snap.id);
    expect(island.adminJson('fsck')).toMatchObject({ ok: true, problems: [] });
  }, 120_000);

  it("deletes a snapshot for Cinder through its RPC while island keeps it in the bin, and Cinder's volume delete purges it", async () => {
    // Cinder's own client (python3-oslo.messaging), as in cinder-rpc.e2e.spec.ts
    const context = { project_id: 'alpha', user_id: 'cinder-user', request_id: 'req-bin' };
    const rpc = (method: string, kwargs: Json): RpcOutcome => {
      const request = { url: island.rpc.url, exchange: island.rpc.exchange, topic: island.rpc.topic, calls: [{ context, method, kwargs }] };
      const run = spawnSync('/usr/bin/python3', [join(__dirname, 'oslo', 'rpc_client.py')], {
        input: JSON.stringify(request),
        encoding: 'utf8',
        timeout: 300_000,
      });
      if (run.status !== 0) throw new Error(`rpc_client.py exited ${run.status}: ${run.stderr}`);
      return JSON.parse(run.stdout.trim()) as RpcOutcome;
    };
    const volume = (id: string) => ({ id, size: 1, project_id: 'alpha', display_name: `rpc-${id.slice(0, 8)}`, status: 'creating' });
    const connector = { host: island.host, initiator: 'iqn.1993-08.org.debian:01:e2e', ip: '127.0.0.1', multipath: false, island_export: 'file' };
    const v1 = randomUUID();
    const s1 = randomUUID();
    const snapshot = { id: s1, volume_id: v1, volume_size: 1, project_id: 'alpha', display_name: 'rpc-snap' };
    expect(rpc('create_volume', { volume: volume(v1) }).error).toBeUndefined();
    const connection = rpc('initialize_connection', { volume: volume(v1), connector }).result as { data: { device_path: string } };
    await io.write(connection.data.device_path, 0, randomBytes(MIB));
    expect(rpc('create_snapshot', { snapshot }).error).toBeUndefined();
    await io.until(`/v1/snapshots/${s1}`, (s) => s.status === 'available', 'snapshot s1');
    const binBefore = await recycledIds();

    expect(rpc('delete_snapshot', { snapshot })).toEqual({ result: null });
    expect(rpc('get_snapshot', { snapshot }).error).toMatchObject({ class: 'SnapshotNotFound_Remote', kwargs: { snapshot_id: s1 } });
    expect(rpc('delete_snapshot', { snapshot })).toEqual({ result: null }); // a retried delete: gone already
    expect(await recycledIds()).toEqual([...binBefore, s1]);
    // a clone's temporary snapshot is island's own: purged at once, never in the bin
    const v2 = randomUUID();
    expect(rpc('create_cloned_volume', { volume: volume(v2), src_vref: volume(v1) }).error).toBeUndefined();
    expect(await recycledIds()).toEqual([...binBefore, s1]);

    rpc('terminate_connection', { volume: volume(v1), connector });
    for (const id of [v1, v2]) expect(rpc('delete_volume', { volume: volume(id) })).toEqual({ result: null });
    expect((await island.request('GET', `/v1/volumes/${v1}`)).status).toBe(404);
    expect(await recycledIds()).toEqual(binBefore);
    expect((await island.request('POST', `/v1/snapshots/${s1}/undelete`)).status).toBe(404);
    expect(island.adminJson('fsck')).toMatchObject({ ok: true, problems: [] });
  }, 240_000);

  it('refuses bad requests with a clear error and changes nothing', async () => {
    const volumeId = await io.createVolume(SIZE);
    const path = await io.attach(volumeId);
    const snap = await snapshotAfter(volumeId, path, Buffer.alloc(SIZE), [[0, randomBytes(MIB)]]);
    const binBefore = await recycledIds(island.adminToken);

    const live = await island.request<Json>('POST', `/v1/snapshots/${snap.id}/undelete`);
    expect(live).toMatchObject({ status: 409, body: { message: expect.stringMatching(/not in the recycle bin/) } });
    const purged = island.adminJson('snapshot', 'delete', snap.id, '--purge');
    expect(purged).toMatchObject({ status: 'deleted' });
    expect((await island.request('POST', `/v1/snapshots/${snap.id}/undelete`)).status).toBe(404);
    expect((await island.request('POST', '/v1/snapshots/not-a-uuid/undelete')).status).toBe(404);
    const cli = island.cli('snapshot', 'undelete', snap.id);
    expect(cli.code).not.toBe(0);
    expect(cli.stderr).toMatch(/404|not found/i);

    for (const [method, path, body] of [
      ['GET', '/v1/snapshots?deleted=yes', undefined],
      ['DELETE', `/v1/snapshots/${snap.id}?purge=now`, undefined],
      ['PUT', '/v1/quotas/alpha', { snapshotRetentionSeconds: -1 }],
      ['PUT', '/v1/quotas/alpha', { snapshotRetentionSeconds: 366 * 86400 + 1 }],
      ['PUT', '/v1/quotas/alpha', { snapshotRetentionSeconds: '1h' }],
    ] as const) {
      const res = await island.request<Json>(method, path, body, island.adminToken);
      expect({ route: `${method} ${path} ${JSON.stringify(body)}`, status: res.status }).toEqual({
        route: `${method} ${path} ${JSON.stringify(body)}`,
        status: 400,
      });
      expect(String(res.body.message)).toMatch(/deleted|purge|snapshotRetentionSeconds/);
    }
    const member = await island.request('PUT', '/v1/quotas/alpha', { snapshotRetentionSeconds: 0 });
    expect(member.status).toBe(403);
    expect(island.json('quota', 'show')).toMatchObject({ snapshotRetentionSeconds: RETENTION, snapshotRetentionIsDefault: true });
    expect(await recycledIds(island.adminToken)).toEqual(binBefore);
  }, 120_000);
});
