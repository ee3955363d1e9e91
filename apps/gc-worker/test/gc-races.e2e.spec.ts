import { randomBytes } from 'node:crypto';
import { guestIo, useIsland } from '@island/stack';

const MIB = 1 << 20;
const SIZE = 8 * MIB;
const VOLUMES = 3;
/** Few distinct block contents: the same blocks keep losing their last reference and being uploaded again. */
const POOL = Array.from({ length: 16 }, () => randomBytes(MIB));
const SNAPSHOTS_PER_VOLUME = 24;
type Json = Record<string, unknown>;

/** Random interleavings, with random pauses injected where deciding and acting are apart. */
const DELAYS = ['worker.after-claim=250', 'worker.before-present=250', 'gc.after-mark=250', 'gc.after-delete=250', 'restore.after-manifest=250'].join(',');

/**
 * The race every deduplicating backup store must win: "this block exists, skip the upload" against "nobody
 * references this block, delete it". Snapshots of three volumes that keep reusing sixteen block contents are
 * (and fresh ones) created, deleted and restored while two GC replicas run with no grace window, all at once, for hundreds of
 * operations. At the end fsck (deep) is clean and every live snapshot restores bit-exact.
 */
describe('snapshots, deletes, restores and GC racing each other', () => {
  const island = useIsland({ gcWorkers: 2, env: { ISLAND_INJECT_DELAYS_MS: DELAYS, ISLAND_GC_INTERVAL_SECONDS: '1', ISLAND_GC_GRACE_SECONDS: '0' } });
  const io = guestIo(island);

  beforeAll(async () => {
    // two GC replicas, each also running on its own 1 s schedule with no grace, beside the requested runs
  }, 60_000);

  const live = new Map<string, Buffer>(); // snapshot id → the content it must restore
  const counts = { snapshots: 0, deletes: 0, restores: 0, gcRuns: 0, blocksDeleted: 0, deletedByReplicas: 0 };
  const pick = <T>(items: T[]): T => items[Math.floor(Math.random() * items.length)];

  async function snapshotter(volumeId: string, path: string) {
    const model = Buffer.alloc(SIZE);
    for (let i = 0; i < SNAPSHOTS_PER_VOLUME; i++) {
      for (let w = 0; w < 1 + Math.floor(Math.random() * 3); w++) {
        const block = Math.floor(Math.random() * (SIZE / MIB));
        const dice = Math.random();
        await io.write(path, block * MIB, dice < 0.15 ? Buffer.alloc(MIB) : dice < 0.4 ? randomBytes(MIB) : pick(POOL), model);
      }
      const snap = await io.snapshot(volumeId);
      live.set(String(snap.id), Buffer.from(model));
      counts.snapshots++;
    }
  }

  async function deleter(done: () => boolean) {
    while (!done()) {
      const ids = [...live.keys()];
      if (ids.length > 4) {
        const id = pick(ids);
        live.delete(id);
        const res = await island.request('DELETE', `/v1/snapshots/${id}`);
        if (res.status !== 202) throw new Error(`delete ${id}: ${res.status} ${JSON.stringify(res.body)}`);
        counts.deletes++;
      }
      await new Promise((r) => setTimeout(r, Math.random() * 400));
    }
  }

  async function restorer(done: () => boolean) {
    while (!done()) {
      const ids = [...live.keys()];
      if (ids.length > 0) {
        const id = pick(ids);
        const expected = live.get(id)!;
        // the snapshot may be deleted meanwhile: creating from it is then refused, which is correct
        const res = await island.request('POST', '/v1/volumes', { sizeBytes: SIZE, snapshotId: id });
        if (res.status === 201) {
          const clone = String(res.body.id);
          const content = await io.read(await io.attach(clone));
          if (!content.equals(expected)) throw new Error(`snapshot ${id} restored different bytes`);
          await io.deleteVolume(clone);
          counts.restores++;
        } else if (live.has(id)) {
          throw new Error(`restore of live snapshot ${id} refused: ${res.status} ${JSON.stringify(res.body)}`);
        }
      }
      await new Promise((r) => setTimeout(r, Math.random() * 200));
    }
  }

  async function collector(done: () => boolean) {
    while (!done()) {
      const started = await island.request('POST', '/v1/gc/runs', { graceSeconds: 0 }, island.adminToken);
      if (started.status !== 202) throw new Error(`gc: ${started.status} ${JSON.stringify(started.body)}`);
      let run: Json = started.body;
      while (run.status === 'running') {
        await new Promise((r) => setTimeout(r, 100));
        run = (await island.request<Json>('GET', `/v1/operations/${String(started.body.id)}`, undefined, island.adminToken)).body;
      }
      if (run.status !== 'succeeded') throw new Error(`gc run failed: ${String(run.error)}`);
      counts.gcRuns++;
      counts.blocksDeleted += Number((run.result as Json).blocksDeleted);
      await new Promise((r) => setTimeout(r, Math.random() * 300));
    }
  }

  it('never loses a block a live snapshot needs: fsck clean and every live snapshot bit-exact at the end', async () => {
    const volumes = await Promise.all(
      Array.from({ length: VOLUMES }, async () => {
        const id = await io.createVolume(SIZE);
        return { id, path: await io.attach(id) };
      }),
    );
    let finished = false;
    const done = () => finished;
    const writers = Promise.all(volumes.map((v) => snapshotter(v.id, v.path))).finally(() => (finished = true));
    await Promise.all([writers, deleter(done), restorer(done), restorer(done), collector(done)]);

    const operations = counts.snapshots + counts.deletes + counts.restores + counts.gcRuns;
    expect(operations).toBeGreaterThanOrEqual(200);
    // GC really raced: the replicas deleted blocks, on request and on their schedules, that were reused later
    for (const port of island.ports.gcReplicas) {
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      counts.deletedByReplicas += Number(/island_gc_blocks_deleted_total\{region="RegionOne"\} (\d+)/.exec(metrics)?.[1] ?? 0);
    }
    expect(counts.deletedByReplicas).toBeGreaterThan(0);

    const fsck = island.adminCli('fsck', '--deep', '--json');
    expect(JSON.parse(fsck.stdout)).toMatchObject({ ok: true, problems: [] });
    for (const [id, content] of live) {
      const clone = await io.createVolume(SIZE, { snapshotId: id });
      expect((await io.read(await io.attach(clone))).equals(content)).toBe(true);
    }
    process.stdout.write(`races: ${JSON.stringify(counts)}, ${live.size} live snapshots verified\n`);
  }, 900_000);
});
