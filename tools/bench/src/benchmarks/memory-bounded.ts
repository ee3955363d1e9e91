import { randomBytes, randomInt } from 'node:crypto';
import { Qcow2Image } from '@island/qcow2';
import { IslandStack, pollUntil, startIsland } from '@island/stack';
import { Benchmark, BenchmarkRow } from '../benchmark';
import { MIB } from '../cpu';
import { peakRss, resetPeakRss } from '../process-memory';
import { attachAndWait } from '../stack-timing';
import { inflateSnapshot, SyntheticSnapshot } from '../synthetic-snapshot';

type Json = Record<string, unknown>;

const LIMIT_MIB = 256;
const BLOCK_SIZE = 4096;
const PROCESSES = ['api', 'agent', 'worker-1', 'gc', 'agent-two', 'worker-two'];
/** Blocks read back from the restored image and compared with the model. */
const SAMPLES = 2000;

/**
 * Memory bounded by design: a volume of 4 M allocated blocks (the block count of 4 TiB in 1 MiB blocks; here 4 KiB
 * blocks, so that the restored image fits this disk) is restored, diffed and committed, and copied to another region,
 * with each island process's peak resident set measured per phase (VmHWM, reset before each phase).
 */
export const memoryBounded: Benchmark = {
  name: 'memory',
  title: 'Memory bounded by design: restore, diff + commit, copy of a volume of 4 M blocks',
  async run(ctx) {
    const blockCount = Number(process.env.ISLAND_BENCH_MEMORY_BLOCKS ?? 4 * 1024 * 1024);
    const distinct = Number(process.env.ISLAND_BENCH_MEMORY_DISTINCT ?? 1024);
    const sizeBytes = blockCount * BLOCK_SIZE;
    const island = await startIsland({
      workers: 1,
      twoRegions: true,
      env: { ISLAND_BLOCK_SIZE: String(BLOCK_SIZE), ISLAND_QUOTA_GIGABYTES: '10000', ISLAND_SWIFT_TIMEOUT_MS: '600000' },
    });
    try {
      ctx.log(`volume of ${blockCount} blocks of ${BLOCK_SIZE} bytes (${(sizeBytes / 2 ** 30).toFixed(1)} GiB), ${distinct} distinct`);
      const { snapshotId, synthetic } = await syntheticSnapshot(island, sizeBytes, blockCount, distinct);
      ctx.log('synthetic snapshot ready');
      const phases: Phase[] = [];
      const measure = async (name: string, step: () => Promise<string | void>) => {
        for (const p of PROCESSES) resetPeakRss(island.pid(p));
        const started = performance.now();
        const detail = await step();
        const seconds = (performance.now() - started) / 1000;
        const peaks = Object.fromEntries(PROCESSES.map((p) => [p, peakRss(island.pid(p))]));
        phases.push({ name, seconds, peaks, detail: detail ?? '' });
        ctx.log(`${name}: ${seconds.toFixed(0)} s, peaks ${describePeaks(peaks)}`);
      };

      let clone = '';
      await measure('restore', async () => {
        clone = String((await island.request('POST', '/v1/volumes', { sizeBytes, snapshotId })).body.id);
        const path = await attachAndWait(island, clone);
        const differing = await compareSample(path, synthetic);
        if (differing.length > 0) throw new Error(`the restored image differs from the snapshot at blocks ${differing.slice(0, 10).join(', ')}`);
        return `${SAMPLES + 2} sampled blocks read back equal to the model`;
      });
      await measure('diff + commit (1 block changed)', async () => {
        const volume = (await island.request<Json>('GET', `/v1/volumes/${clone}`)).body;
        const image = await Qcow2Image.open((volume.connection as { path: string }).path, { writable: true });
        await image.write(randomInt(blockCount) * BLOCK_SIZE, randomBytes(BLOCK_SIZE));
        await image.close();
        const created = await island.request('POST', '/v1/snapshots', { volumeId: clone });
        const done = await pollUntil<Json>(island, `/v1/snapshots/${String(created.body.id)}`, (s) => s.status === 'available', { timeoutMs: 3_600_000 });
        return `the snapshot uploaded ${String(done.blocksUploaded)} block`;
      });
      await measure('copy to RegionTwo (stage, commit and manifest of every entry)', async () => {
        const created = await island.request<Json>('POST', `/v1/snapshots/${snapshotId}/copy`, { region: 'RegionTwo' });
        const done = await pollUntil<Json>(island, `/v1/snapshots/${String(created.body.id)}`, (s) => s.status === 'available', { timeoutMs: 3_600_000 });
        return `copy available, ${String(done.blocksTotal)} blocks`;
      });
      return { rows: phases.map((p) => rowOf(p)), notes: notes(blockCount, distinct, phases) };
    } finally {
      await island.stop();
    }
  },
};

interface Phase {
  name: string;
  seconds: number;
  peaks: Record<string, number>;
  detail: string;
}

/** A snapshot of a volume whose block 0 was written through the real path, then inflated to `blockCount` blocks. */
async function syntheticSnapshot(
  island: IslandStack,
  sizeBytes: number,
  blockCount: number,
  distinct: number,
): Promise<{ snapshotId: string; synthetic: SyntheticSnapshot }> {
  const volumeId = String((await island.request('POST', '/v1/volumes', { sizeBytes })).body.id);
  const block0 = randomBytes(BLOCK_SIZE);
  const image = await Qcow2Image.open(await attachAndWait(island, volumeId), { writable: true });
  await image.write(0, block0);
  await image.close();
  const created = await island.request('POST', '/v1/snapshots', { volumeId });
  const snapshotId = String(created.body.id);
  await pollUntil(island, `/v1/snapshots/${snapshotId}`, (s) => s.status === 'available', { timeoutMs: 600_000 });
  const synthetic = await inflateSnapshot(island, snapshotId, { blockCount, distinct, projectId: 'alpha', block0 });
  return { snapshotId, synthetic };
}

/** Indexes (of the first and last block and SAMPLES random ones) whose bytes in the image differ from the model. */
async function compareSample(path: string, synthetic: SyntheticSnapshot): Promise<number[]> {
  const image = await Qcow2Image.open(path);
  try {
    const indexes = [0, synthetic.blockCount - 1, ...Array.from({ length: SAMPLES }, () => randomInt(synthetic.blockCount))];
    const differing: number[] = [];
    for (const index of indexes) {
      if (!(await image.read(index * BLOCK_SIZE, BLOCK_SIZE)).equals(synthetic.contentOf(index))) differing.push(index);
    }
    return differing;
  } finally {
    await image.close();
  }
}

function rowOf(phase: Phase): BenchmarkRow {
  const [busiest, bytes] = Object.entries(phase.peaks).sort((a, b) => b[1] - a[1])[0];
  const mib = bytes / MIB;
  return {
    metric: `${phase.name}: peak RSS of the largest island process (${busiest})`,
    island: `${mib.toFixed(0)} MiB`,
    baseline: `limit ${LIMIT_MIB} MiB`,
    ratio: LIMIT_MIB / mib,
    goal: `< ${LIMIT_MIB} MiB`,
    pass: mib < LIMIT_MIB,
  };
}

function describePeaks(peaks: Record<string, number>): string {
  return Object.entries(peaks)
    .map(([p, b]) => `${p} ${(b / MIB).toFixed(0)} MiB`)
    .join(', ');
}

function notes(blockCount: number, distinct: number, phases: Phase[]): string[] {
  return [
    `A volume of ${blockCount} allocated blocks of ${BLOCK_SIZE} bytes: the block count (and manifest size, ${((blockCount * 32) / MIB).toFixed(0)} MiB of ` +
      `names) of 4 TiB in 1 MiB blocks, on a volume whose image fits this disk. Its snapshot is synthetic: block 0 written and ` +
      `snapshotted through island, then ${distinct} distinct sealed blocks (each filling a stretch of consecutive indexes) put in ` +
      'Swift, their catalog rows and every block version generated in SQL, and the manifest rewritten with the block store’s ' +
      'streaming writer (tools/bench/src/synthetic-snapshot.ts). The phases then run through the real API, agents and workers.',
    'Peak RSS is each process’s VmHWM, set back to its current RSS (clear_refs 5) before each phase.',
    ...phases.map((p) => `${p.name}: ${p.seconds.toFixed(0)} s; ${p.detail}; peaks: ${describePeaks(p.peaks)}.`),
    'Reproduce: `npm run bench -- memory` (ISLAND_BENCH_MEMORY_BLOCKS, ISLAND_BENCH_MEMORY_DISTINCT to scale it).',
  ];
}
