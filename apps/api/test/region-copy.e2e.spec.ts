import { randomBytes } from 'node:crypto';
import { blockHashes, guestIo, startIsland, useIsland } from '@island/stack';

const MIB = 1 << 20;
const SIZE = 24 * MIB;
type Json = Record<string, unknown>;

/**
 * Regions on two independent local Swift endpoints (RegionOne on :8080, RegionTwo on :8090) with a host in
 * each: snapshots copied between them move exactly the blocks the target lacks, in any order, idempotently;
 * volumes made in RegionTwo from RegionOne's snapshots restore bit-exact on RegionTwo's host; a copy whose
 * worker is killed finishes on redelivery without sending again what arrived; deletes stay in their region.
 */
describe('snapshots across regions', () => {
  const island = useIsland({ twoRegions: true, env: { ISLAND_INJECT_DELAYS_MS: 'copy.before-present=250-300' } });
  const io = guestIo(island);
  let hostTwo: string;

  beforeAll(async () => {
    // a pause between storing a batch's blocks and recording them: a copy killed halfway has sent blocks it did not record
    hostTwo = island.hosts[1].name;
  }, 90_000);

  const blocksIn = async (region: string) => {
    const objects = await island.swiftObjects('blocks/', region);
    return new Map([...objects].map(([name, bytes]) => [name.slice('blocks/'.length), bytes]));
  };
  const union = (...sets: Set<string>[]) => new Set(sets.flatMap((s) => [...s]));

  /** A chain of snapshots in RegionOne with overwrites, a zeroed block and new blocks, with each one's content. */
  async function chainInRegionOne(steps: [number, Buffer][][]) {
    const volumeId = await io.createVolume(SIZE);
    const path = await io.attach(volumeId);
    const model = Buffer.alloc(SIZE);
    const taken: { id: string; content: Buffer }[] = [];
    for (const writes of steps) {
      for (const [offset, data] of writes) await io.write(path, offset, data, model);
      const snap = await io.snapshot(volumeId);
      taken.push({ id: String(snap.id), content: Buffer.from(model) });
    }
    return { volumeId, taken };
  }

  async function expectRestoresInRegionTwo(snapshotId: string, content: Buffer, extra: Json = {}) {
    const volume = island.json(
      'volume',
      'create',
      '--size',
      String(content.length),
      '--snapshot',
      snapshotId,
      '--wait',
      ...Object.entries(extra).flat().map(String),
    );
    expect(volume.region).toBe('RegionTwo');
    const path = await io.attach(String(volume.id), hostTwo);
    expect(path.startsWith(island.hosts[1].dataDir)).toBe(true);
    expect((await io.read(path)).equals(content)).toBe(true);
    await io.deleteVolume(String(volume.id));
  }

  it('copies a chain to another region in random order, moving exactly the blocks absent there, and each copy restores bit-exact there', async () => {
    const { taken } = await chainInRegionOne([
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
        [20 * MIB, randomBytes(2 * MIB)],
      ],
    ]);
    const inOne = await blocksIn('RegionOne');
    const order = [0, 1, 2, 3].sort(() => Math.random() - 0.5);
    let there = new Set<string>();
    const copies = new Map<number, string>();
    for (const k of order) {
      const needed = blockHashes(taken[k].content, MIB, await island.projectKeys('alpha'));
      const absent = [...needed].filter((h) => !there.has(h));
      const report = island.json('snapshot', 'copy', taken[k].id, '--to-region', 'RegionTwo', '--wait');
      expect(report).toMatchObject({ region: 'RegionTwo', status: 'available', copyOf: taken[k].id });
      expect(report.blocksCopied).toBe(absent.length);
      expect(report.blocksReused).toBe(needed.size - absent.length);
      expect(report.bytesCopied).toBe(absent.reduce((sum, h) => sum + inOne.get(h)!, 0));
      there = union(there, needed);
      expect(new Set((await blocksIn('RegionTwo')).keys())).toEqual(there);
      copies.set(k, String(report.id));
      // asking again is the same copy, nothing moves
      expect(island.json('snapshot', 'copy', taken[k].id, '--to-region', 'RegionTwo', '--wait')).toMatchObject({
        id: report.id,
        bytesCopied: report.bytesCopied,
      });
    }
    const shown = island.json('snapshot', 'show', taken[0].id);
    expect(shown.regions).toEqual([
      { region: 'RegionOne', snapshotId: taken[0].id, status: 'available' },
      { region: 'RegionTwo', snapshotId: copies.get(0), status: 'available' },
    ]);
    for (const [k, copyId] of copies) await expectRestoresInRegionTwo(copyId, taken[k].content);
    // from the original, naming the region: the existing copy serves it
    await expectRestoresInRegionTwo(taken[2].id, taken[2].content, { '--region': 'RegionTwo' });
  }, 240_000);

  it('creates a volume in RegionTwo from a RegionOne snapshot that has no copy there yet, copying it on demand', async () => {
    const { taken } = await chainInRegionOne([
      [
        [2 * MIB, randomBytes(3 * MIB)],
        [SIZE - MIB, randomBytes(MIB)],
      ],
    ]);
    await expectRestoresInRegionTwo(taken[0].id, taken[0].content, { '--region': 'RegionTwo' });
    const shown = island.json('snapshot', 'show', taken[0].id);
    expect((shown.regions as Json[]).map((r) => r.region)).toEqual(['RegionOne', 'RegionTwo']);
  }, 120_000);

  it('refuses a group snapshot of volumes placed on different hosts, and takes none', async () => {
    const one = await io.createVolume(SIZE);
    await io.attach(one);
    const two = await io.createVolume(SIZE, { region: 'RegionTwo' });
    await io.attach(two, hostTwo);
    const res = await island.request<Json>('POST', '/v1/snapshots/groups', { volumeIds: [one, two] });
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body)).toMatch(/a group is taken on one host/);
    for (const id of [one, two]) {
      expect((await island.request<{ snapshots: Json[] }>('GET', `/v1/snapshots?volumeId=${id}`)).body.snapshots).toEqual([]);
      await io.deleteVolume(id);
    }
  }, 60_000);

  it('finishes a copy whose workers are killed halfway on redelivery, without sending again what had arrived', async () => {
    const size = 200 * MIB;
    const volumeId = await io.createVolume(size);
    const path = await io.attach(volumeId);
    const content = Buffer.alloc(size);
    await io.write(path, 0, randomBytes(size), content);
    const original = await io.snapshot(volumeId);
    const started = island.json('snapshot', 'copy', String(original.id), '--to-region', 'RegionTwo');
    await io.until<Json>(`/v1/snapshots/${started.id}`, (s) => Number(s.blocksDone) >= 64, 'copy under way');
    const workers = ['worker-1', 'worker-2', 'worker-two'];
    for (const w of workers) island.kill(w);
    const halfway = (await island.request<Json>('GET', `/v1/snapshots/${started.id}`)).body;
    expect(halfway.status).toBe('uploading');
    expect(Number(halfway.blocksDone)).toBeLessThan(200);
    for (const w of workers) await island.revive(w);

    const done = island.json('snapshot', 'copy', String(original.id), '--to-region', 'RegionTwo', '--wait');
    expect(done).toMatchObject({ id: started.id, status: 'available' });
    const needed = blockHashes(content, MIB, await island.projectKeys('alpha'));
    const inTwo = await blocksIn('RegionTwo');
    for (const h of needed) expect(inTwo.has(h)).toBe(true);
    // Swift's own log: no block was stored twice (a second complete PUT would answer 412 or 201 again)
    await new Promise((r) => setTimeout(r, 1000));
    const puts = new Map<string, number>();
    for (const line of island.swiftProxyLog('RegionTwo')) {
      const m = new RegExp(` PUT /v1/AUTH_test/${island.container}/blocks/([0-9a-f]{64}) HTTP/1\\.[01] (201|412) `).exec(line);
      if (m && needed.has(m[1])) puts.set(m[1], (puts.get(m[1]) ?? 0) + 1);
    }
    expect(puts.size).toBe(needed.size);
    expect([...puts.values()].filter((n) => n > 1)).toEqual([]);
    await expectRestoresInRegionTwo(String(done.id), content);
  }, 300_000);

  it('deletes in one region without touching the other; fsck is clean in both', async () => {
    const { volumeId, taken } = await chainInRegionOne([[[0, randomBytes(4 * MIB)]], [[MIB, randomBytes(MIB)]]]);
    const copies = taken.map((t) => String(island.json('snapshot', 'copy', t.id, '--to-region', 'RegionTwo', '--wait').id));
    // the copy of the first goes in RegionTwo; the original of the second goes in RegionOne
    island.json('snapshot', 'delete', copies[0]);
    island.json('snapshot', 'delete', taken[1].id);
    for (const region of ['RegionOne', 'RegionTwo']) island.adminJson('gc', 'run', '--region', region, '--grace', '0', '--wait');
    await expectRestoresInRegionTwo(copies[1], taken[1].content);
    // a deleted copy can be made again: it moves back only what GC took from RegionTwo
    const keys = await island.projectKeys('alpha');
    const gone = [...blockHashes(taken[0].content, MIB, keys)].filter((h) => !blockHashes(taken[1].content, MIB, keys).has(h));
    const again = island.json('snapshot', 'copy', taken[0].id, '--to-region', 'RegionTwo', '--wait');
    expect(again.id).not.toBe(copies[0]);
    expect(again.blocksCopied).toBe(gone.length);
    await expectRestoresInRegionTwo(String(again.id), taken[0].content);
    const clone = await io.createVolume(SIZE, { snapshotId: taken[0].id });
    expect((await io.read(await io.attach(clone))).equals(taken[0].content)).toBe(true);
    await io.deleteVolume(clone);
    for (const region of ['RegionOne', 'RegionTwo']) {
      const report = island.adminJson('fsck', '--region', region, '--deep');
      expect(report).toMatchObject({ ok: true });
    }
    // the whole volume goes with its snapshots; its remaining copy in RegionTwo stays and restores
    await io.deleteVolume(volumeId, true);
    for (const region of ['RegionOne', 'RegionTwo']) island.adminJson('gc', 'run', '--region', region, '--grace', '0', '--wait');
    await expectRestoresInRegionTwo(copies[1], taken[1].content);
    expect(island.adminJson('fsck', '--region', 'RegionTwo', '--deep')).toMatchObject({ ok: true });
  }, 240_000);

  it('rebuilds a region from its own Swift alone: copies come back as copies of their originals and restore', async () => {
    const { taken } = await chainInRegionOne([[[0, randomBytes(3 * MIB)]], [[2 * MIB, randomBytes(2 * MIB)]]]);
    const copies = taken.map((t) => String(island.json('snapshot', 'copy', t.id, '--to-region', 'RegionTwo', '--wait').id));
    const rebuilt = await startIsland({ twoRegions: true, container: island.container, env: { ISLAND_KEK_FILE: island.kekFile } });
    try {
      expect(rebuilt.adminJson('catalog', 'rebuild', '--region', 'RegionTwo', '--wait')).toMatchObject({ region: 'RegionTwo' });
      expect(rebuilt.adminJson('fsck', '--region', 'RegionTwo', '--deep')).toMatchObject({ ok: true });
      const other = guestIo(rebuilt);
      for (const [k, copyId] of copies.entries()) {
        const shown = await rebuilt.request<Json>('GET', `/v1/snapshots/${copyId}`);
        expect(shown.body).toMatchObject({ region: 'RegionTwo', status: 'available', copyOf: taken[k].id });
        const created = await rebuilt.request<Json>('POST', '/v1/volumes', { sizeBytes: SIZE, snapshotId: copyId });
        expect(created.status).toBe(201);
        const path = await other.attach(String(created.body.id), rebuilt.hosts[1].name);
        expect((await other.read(path)).equals(taken[k].content)).toBe(true);
      }
    } finally {
      await rebuilt.stop();
    }
  }, 240_000);
});
