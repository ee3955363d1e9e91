import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { blockHashes, guestIo, useIsland } from '@island/stack';

const MIB = 1 << 20;
const SIZE = 16 * MIB;
type Json = Record<string, unknown>;

/**
 * Snapshot deletion and GC on the real services: snapshots of a chain deleted in different orders free
 * exactly the blocks nothing else uses (count and bytes, as Swift lists them), every remaining snapshot
 * restores bit-exact after each step, and the volume's own last committed content stays until replaced.
 */
describe('deleting snapshots in any order', () => {
  const island = useIsland();
  const io = guestIo(island);

  const storedBlocks = async () => {
    const objects = await island.swiftObjects('blocks/');
    return new Map([...objects].map(([name, bytes]) => [name.slice('blocks/'.length), bytes]));
  };
  const union = (...sets: Set<string>[]) => new Set(sets.flatMap((s) => [...s]));
  /** The one row an operator's dashboard reads from a view, for RegionOne (counts come back as text). */
  const view = async (name: string): Promise<Json> => {
    const db = new Client({ connectionString: island.databaseUrl });
    await db.connect();
    try {
      return (await db.query(`SELECT * FROM ${name} WHERE region = 'RegionOne'`)).rows[0] as Json;
    } finally {
      await db.end();
    }
  };

  /** A chain of four snapshots with overwrites, a zeroed block and new blocks; returns them with their content. */
  async function chain(volumeId: string, path: string) {
    const model = Buffer.alloc(SIZE);
    const taken: { id: string; content: Buffer }[] = [];
    const steps: [number, Buffer][][] = [
      [[0, randomBytes(6 * MIB)]],
      [
        [MIB, randomBytes(MIB)],
        [3 * MIB, Buffer.alloc(MIB)],
        [8 * MIB, randomBytes(MIB)],
      ],
      [
        [MIB + 512, randomBytes(4096)],
        [5 * MIB, randomBytes(MIB)],
      ],
      [
        [0, randomBytes(MIB)],
        [10 * MIB, randomBytes(MIB)],
      ],
    ];
    for (const writes of steps) {
      for (const [offset, data] of writes) await io.write(path, offset, data, model);
      const snap = await io.snapshot(volumeId);
      taken.push({ id: String(snap.id), content: Buffer.from(model) });
    }
    return taken;
  }

  async function expectRestores(snapshots: { id: string; content: Buffer }[]) {
    for (const s of snapshots) {
      const clone = await io.createVolume(SIZE, { snapshotId: s.id });
      const path = await io.attach(clone);
      expect((await io.read(path)).equals(s.content)).toBe(true);
      await io.deleteVolume(clone);
    }
  }

  it.each([
    ['the middle, then the first, the last and the rest', [1, 0, 3, 2]],
    ['a random order', [0, 1, 2, 3].sort(() => Math.random() - 0.5)],
  ])(
    'frees exactly the blocks no remaining snapshot uses when deleting %s',
    async (_, order) => {
      const volumeId = await io.createVolume(SIZE);
      const path = await io.attach(volumeId);
      const before = await storedBlocks();
      const snapshots = await chain(volumeId, path);
      const keys = await island.projectKeys('alpha');
      const head = blockHashes(snapshots[3].content, MIB, keys); // the volume's last committed content: the base of its next snapshot
      const mine = (blocks: Map<string, number>) => new Set([...blocks.keys()].filter((h) => !before.has(h)));
      expect(mine(await storedBlocks())).toEqual(union(...snapshots.map((s) => blockHashes(s.content, MIB, keys))));

      const remaining = new Set(snapshots.map((_, i) => i));
      for (const index of order) {
        const deleted = island.json('snapshot', 'delete', snapshots[index].id, '--wait');
        expect(deleted).toMatchObject({ id: snapshots[index].id, status: 'deleted' });
        remaining.delete(index);
        const live = [...remaining].map((i) => snapshots[i]);
        await expectRestores(live);

        const stored = await storedBlocks();
        const report = island.adminJson('gc', 'run', '--grace', '0', '--wait');
        const after = await storedBlocks();
        const expected = union(head, ...live.map((s) => blockHashes(s.content, MIB, keys)));
        expect(mine(after)).toEqual(expected);
        const freed = [...stored.keys()].filter((h) => !after.has(h));
        expect(report).toMatchObject({ blocksDeleted: freed.length, bytesFreed: freed.reduce((sum, h) => sum + stored.get(h)!, 0), blocksPending: 0 });
        expect((await island.request('GET', `/v1/snapshots/${snapshots[index].id}`)).status).toBe(404);
      }

      // the volume goes with its snapshots: then nothing of it is left in Swift, blocks or manifests
      const again = await io.snapshot(volumeId);
      await io.deleteVolume(volumeId, true);
      expect((await island.request('GET', `/v1/snapshots/${again.id}`)).status).toBe(404);
      const report = island.adminJson('gc', 'run', '--grace', '0', '--wait');
      expect(Number(report.blocksDeleted)).toBe(head.size);
      expect(mine(await storedBlocks()).size).toBe(0);
      expect([...(await island.swiftObjects(`manifests/${volumeId}/`)).keys()]).toEqual([]);
      expect(island.adminJson('fsck')).toMatchObject({ ok: true, problems: [] });
    },
    240_000,
  );

  it('keeps blocks through the grace window, and a dry run deletes nothing', async () => {
    const volumeId = await io.createVolume(SIZE);
    const path = await io.attach(volumeId);
    const model = Buffer.alloc(SIZE);
    await io.write(path, 0, randomBytes(2 * MIB), model);
    const first = await io.snapshot(volumeId);
    await io.write(path, 0, randomBytes(2 * MIB), model);
    await io.snapshot(volumeId);
    island.json('snapshot', 'delete', String(first.id), '--wait');

    const stored = await storedBlocks();
    const storedBytes = [...stored.values()].reduce((a, b) => a + b, 0);
    expect(await view('island_gc_backlog')).toMatchObject({ unreferenced_blocks: '2', deleting_blocks: '0', claimed_blocks: '0' });
    expect(await view('island_storage_by_region')).toMatchObject({ blocks: String(stored.size), stored_bytes: String(storedBytes) });
    expect(island.adminJson('gc', 'run', '--grace', '3600', '--wait')).toMatchObject({ blocksDeleted: 0, blocksPending: 2 });
    expect(island.adminJson('gc', 'run', '--grace', '0', '--dry-run', '--wait')).toMatchObject({ blocksDeleted: 2, dryRun: true });
    expect((await storedBlocks()).size).toBe(stored.size);
    expect(island.adminJson('gc', 'run', '--grace', '0', '--wait')).toMatchObject({ blocksDeleted: 2, blocksPending: 0 });
    expect((await storedBlocks()).size).toBe(stored.size - 2);
    expect(await view('island_gc_backlog')).toMatchObject({ unreferenced_blocks: '0' });
    const metrics = await (await fetch(`http://127.0.0.1:${island.ports.gc}/metrics`)).text();
    expect(metrics).toMatch(/island_gc_blocks_deleted_total\{region="RegionOne"\} [1-9]/);
  }, 120_000);

  it('refuses bad requests with a clear error and changes nothing', async () => {
    const volumeId = await io.createVolume(SIZE);
    const path = await io.attach(volumeId);
    await io.write(path, 0, randomBytes(MIB), Buffer.alloc(SIZE));
    const snap = await io.snapshot(volumeId);

    const notAdmin = island.cli('gc', 'run', '--wait');
    expect(notAdmin.code).not.toBe(0);
    expect(notAdmin.stderr).toMatch(/admin/);
    expect((await island.request('POST', '/v1/gc/runs', { graceSeconds: -1 }, island.adminToken)).status).toBe(400);
    expect((await island.request('POST', '/v1/gc/runs', { region: 'Nowhere' }, island.adminToken)).status).toBe(400);
    expect((await island.request('POST', '/v1/fsck', { deep: 'yes' }, island.adminToken)).status).toBe(400);
    expect((await island.request('POST', '/v1/catalog/rebuild', { region: 'RegionOne' }, island.adminToken)).status).toBe(409);
    expect((await island.request('DELETE', '/v1/snapshots/not-a-uuid')).status).toBe(404);
    expect((await island.request('DELETE', `/v1/snapshots/${snap.id}`, undefined, island.otherToken)).status).toBe(404);
    expect((await island.request('POST', `/v1/volumes/${volumeId}/detach`)).status).toBe(200);
    const withSnapshots = await island.request('DELETE', `/v1/volumes/${volumeId}`);
    expect(withSnapshots.status).toBe(409);
    expect(JSON.stringify(withSnapshots.body)).toMatch(/cascade/);
    expect((await island.request('DELETE', `/v1/volumes/${volumeId}?cascade=maybe`)).status).toBe(400);
    expect((await island.request('GET', `/v1/snapshots/${snap.id}`)).body).toMatchObject({ status: 'available' });
  }, 60_000);
});
