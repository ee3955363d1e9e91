import { randomBytes } from 'node:crypto';
import { guestIo, IslandStack, startIsland } from '@island/stack';
import { Benchmark, BenchmarkRow } from '../benchmark';
import { median, timedSnapshot } from '../stack-timing';

const MIB = 1 << 20;
const GIB = 1 << 30;
const TIB = 1024 * GIB;
/** Snapshots measured per volume, each changing the same number of blocks. */
const ROUNDS = 6;
const CHANGED_BLOCKS = 16;
const GRACE_SECONDS = 30;
const GC_INTERVAL_SECONDS = 10;

/**
 * Deletion costs. (1) Committing and deleting snapshots with the same number of changed blocks on a 10 GiB
 * and on a 1 TiB sparse volume: the catalog's work follows the blocks that changed, not the volume's size.
 * (2) How long after a delete the space is back in Swift, with GC on its own schedule.
 */
export const snapshotDeletion: Benchmark = {
  name: 'snapshot-deletion',
  title: 'Snapshot commit and delete cost vs volume size; space back in Swift after a delete',
  async run(ctx) {
    const island = await startIsland({
      workers: 2,
      env: { ISLAND_GC_GRACE_SECONDS: String(GRACE_SECONDS), ISLAND_GC_INTERVAL_SECONDS: String(GC_INTERVAL_SECONDS) },
    });
    const rows: BenchmarkRow[] = [];
    try {
      const small = await measureVolume(island, 10 * GIB, ctx.log);
      const large = await measureVolume(island, TIB, ctx.log);
      rows.push(sizeRow('snapshot commit (create → available), 16 changed 1 MiB blocks', large.commitMs, small.commitMs));
      rows.push(sizeRow('snapshot delete (API request, references dropped)', large.deleteMs, small.deleteMs));

      const seconds = await spaceBackAfterDelete(island);
      rows.push({
        metric: `space back in Swift after a delete (grace ${GRACE_SECONDS} s, GC every ${GC_INTERVAL_SECONDS} s)`,
        island: `${seconds.toFixed(1)} s`,
        baseline: `grace + 60 s = ${GRACE_SECONDS + 60} s`,
        ratio: (GRACE_SECONDS + 60) / seconds,
        goal: '≤ grace + 1 min (ratio ≥ 1×)',
        pass: seconds <= GRACE_SECONDS + 60,
      });
    } finally {
      await island.stop();
    }
    return {
      rows,
      notes: [
        `Each volume gets ${CHANGED_BLOCKS * 4} MiB written across its whole range, then ${ROUNDS} snapshots each changing ${CHANGED_BLOCKS} blocks; medians of the rounds. The middle snapshots are deleted.`,
        'The 1 TiB volume is sparse (qcow2 allocates only what is written), so both volumes hold the same data; only the size differs.',
        'Space back: a snapshot whose 32 blocks no other snapshot uses is deleted; the time is until Swift no longer lists any of them, with GC running on its own schedule (not `island gc run`).',
      ],
    };
  },
};

function sizeRow(metric: string, largeMs: number, smallMs: number): BenchmarkRow {
  const ratio = largeMs / smallMs;
  return {
    metric,
    island: `1 TiB: ${largeMs.toFixed(0)} ms`,
    baseline: `10 GiB: ${smallMs.toFixed(0)} ms`,
    ratio,
    goal: '1 TiB ÷ 10 GiB ≤ 1.5',
    pass: ratio <= 1.5,
  };
}

async function measureVolume(island: IslandStack, size: number, log: (m: string) => void): Promise<{ commitMs: number; deleteMs: number }> {
  const io = guestIo(island);
  const volumeId = await io.createVolume(size);
  const path = await io.attach(volumeId);
  const blocks = size / MIB;
  const spread = (n: number) => Array.from({ length: n }, () => Math.floor(Math.random() * blocks));
  for (const block of spread(CHANGED_BLOCKS * 4)) await io.write(path, block * MIB, randomBytes(MIB));
  await timedSnapshot(island, volumeId);
  const commits: number[] = [];
  const ids: string[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const block of spread(CHANGED_BLOCKS)) await io.write(path, block * MIB, randomBytes(MIB));
    const { ms, id } = await timedSnapshot(island, volumeId);
    commits.push(ms);
    ids.push(id);
  }
  const deletes: number[] = [];
  for (const id of ids.slice(1, -1)) {
    const started = performance.now();
    const res = await island.request('DELETE', `/v1/snapshots/${id}`);
    deletes.push(performance.now() - started);
    if (res.status !== 202) throw new Error(`delete ${id}: ${res.status} ${JSON.stringify(res.body)}`);
  }
  const result = { commitMs: median(commits), deleteMs: median(deletes) };
  log(`${size / GIB} GiB: commit ${commits.map((c) => c.toFixed(0)).join(', ')} ms; delete ${deletes.map((d) => d.toFixed(0)).join(', ')} ms`);
  return result;
}

async function spaceBackAfterDelete(island: IslandStack): Promise<number> {
  const io = guestIo(island);
  const volumeId = await io.createVolume(64 * MIB);
  const path = await io.attach(volumeId);
  const model = Buffer.alloc(64 * MIB);
  const before = await island.swiftObjects('blocks/');
  await io.write(path, 0, randomBytes(32 * MIB), model);
  const doomed = await io.snapshot(volumeId);
  const added = [...(await island.swiftObjects('blocks/')).keys()].filter((name) => !before.has(name));
  await io.write(path, 0, randomBytes(32 * MIB), model); // the next snapshot uses none of them
  await io.snapshot(volumeId);
  const started = performance.now();
  const res = await island.request('DELETE', `/v1/snapshots/${String(doomed.id)}`);
  if (res.status !== 202) throw new Error(`delete: ${res.status}`);
  for (;;) {
    const listed = await island.swiftObjects('blocks/');
    if (!added.some((name) => listed.has(name))) return (performance.now() - started) / 1000;
    if (performance.now() - started > (GRACE_SECONDS + 300) * 1000) throw new Error('the space did not come back within grace + 5 min');
    await new Promise((r) => setTimeout(r, 500));
  }
}
