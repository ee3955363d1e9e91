import { execFileSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { Qcow2Image } from '@island/qcow2';
import { IslandStack, pollUntil, startIsland } from '@island/stack';
import { Benchmark, BenchmarkRow } from '../benchmark';
import { MIB } from '../cpu';
import { peakRss, peakRssRow, resetPeakRss } from '../process-memory';
import { attachAndWait, timedSnapshot } from '../stack-timing';
import { inflateSnapshot } from '../synthetic-snapshot';
import { resumedRestore } from '../resumed-restore';
import { sparseFilesystem } from '../sparse-filesystem';

type Json = Record<string, unknown>;

const BLOCK_SIZE = 1024 * 1024;
const PROCESSES = ['api', 'agent', 'worker-1', 'gc', 'agent-two', 'worker-two'];
/** Blocks a resumed restore has left to write (see resumedRestore). */
const RESUME_LEFT_BLOCKS = 64;

/**
 * Memory bounded by design: a snapshot of a 4 TiB volume with all of its 4 M blocks allocated (synthetic: see
 * synthetic-snapshot.ts) goes through the paths whose work grows with the block map — a region copy (the source manifest
 * streamed, every entry staged, the copy committed, its manifest written from the catalog in the other region), an
 * incremental snapshot of the volume (diff, commit, manifest), fsck --deep (every manifest read against the catalog),
 * a catalog rebuild of the region from Swift by a second island (every manifest streamed into its scratch tables), a restore resumed near its end after its worker was killed (a full one would write 4 TiB: see resumedRestore) and the
 * agent's take, diff and drop of points in time of an image as large allocated in full — with each island process's
 * peak resident set measured per phase (VmHWM, set back before each phase).
 */
export const memoryBounded: Benchmark = {
  name: 'memory',
  title: 'Memory bounded by design: a 4 TiB volume of 4 M blocks copied, snapshotted and checked',
  async run(ctx) {
    const blockCount = Number(process.env.ISLAND_BENCH_MEMORY_BLOCKS ?? 4 * 1024 * 1024);
    const distinct = Number(process.env.ISLAND_BENCH_MEMORY_DISTINCT ?? 256);
    const sizeBytes = blockCount * BLOCK_SIZE;
    // the hosts' data directories on a file system that reports room for the restore (see resumedRestore)
    const roomy = sparseFilesystem(ctx.workDir, 2 * sizeBytes + 2 ** 40);
    if ('unavailable' in roomy) ctx.log(`no file system with room for the restore: ${roomy.unavailable}`);
    const island = await startIsland({
      ...('mountPoint' in roomy && { dataRoot: roomy.mountPoint }),
      workers: 1,
      twoRegions: true,
      env: { ISLAND_QUOTA_GIGABYTES: '100000', ISLAND_SWIFT_TIMEOUT_MS: '600000' },
    }).catch((error: unknown) => {
      if ('mountPoint' in roomy) roomy.remove();
      throw error;
    });
    try {
      ctx.log(`volume of ${blockCount} blocks of ${BLOCK_SIZE} bytes (${(sizeBytes / 2 ** 40).toFixed(2)} TiB), ${distinct} distinct`);
      const { volumeId, snapshotId, path } = await syntheticSnapshot(island, sizeBytes, blockCount, distinct);
      ctx.log('synthetic snapshot ready');
      const phases: Phase[] = [];
      /**
       * `step` may give peaks it measured itself: of processes it killed (their successors' are read at the end), or of
       * processes of another stack.
       */
      const measure = async (name: string, step: () => Promise<string | { detail: string; ownPeaks: Record<string, number> }>) => {
        for (const p of PROCESSES) resetPeakRss(island.pid(p));
        const started = performance.now();
        const done = await step();
        const { detail, ownPeaks } = typeof done === 'string' ? { detail: done, ownPeaks: {} } : done;
        const seconds = (performance.now() - started) / 1000;
        const peaks = { ...ownPeaks, ...Object.fromEntries(PROCESSES.map((p) => [p, Math.max(peakRss(island.pid(p)), ownPeaks[p] ?? 0)])) };
        phases.push({ name, seconds, peaks, detail });
        ctx.log(`${name}: ${seconds.toFixed(0)} s, peaks ${describePeaks(peaks)}`);
      };

      await measure('region copy (manifest streamed, every entry staged and committed, the copy’s manifest written)', async () => {
        const created = await island.request<Json>('POST', `/v1/snapshots/${snapshotId}/copy`, { region: 'RegionTwo' });
        const done = await pollUntil<Json>(island, `/v1/snapshots/${String(created.body.id)}`, (s) => s.status === 'available', { timeoutMs: 3_600_000 });
        return `copy available with ${String(done.blocksTotal)} distinct blocks`;
      });
      await measure('incremental snapshot of the 4 M-block volume (diff, commit, manifest), 1 block changed', async () => {
        const image = await Qcow2Image.open(path, { writable: true });
        await image.write(randomInt(blockCount) * BLOCK_SIZE, randomBytes(BLOCK_SIZE));
        await image.close();
        const { snap: done } = await timedSnapshot(island, volumeId, { timeoutMs: 3_600_000 });
        return `the snapshot uploaded ${String(done.blocksUploaded)} block(s)`;
      });
      await measure('fsck --deep (every manifest read against the catalog, every block opened)', async () => {
        const report = island.adminJson<Json>('fsck', '--region', 'RegionOne', '--deep');
        if (report.ok !== true) throw new Error(`fsck found problems: ${JSON.stringify(report).slice(0, 500)}`);
        return 'fsck ok';
      });
      await measure('catalog rebuild of the region from Swift into an empty catalog (every manifest streamed into scratch tables)', () =>
        rebuildInSecondIsland(island),
      );
      if ('mountPoint' in roomy) {
        await measure(
          `restore of the ${blockCount >= 2 ** 20 ? `${blockCount / 2 ** 20} M` : blockCount}-block volume, resumed near its end after its worker was killed (partial image allocated in full checked, manifest streamed, point in time taken)`,
          async () => {
            const { detail, killedWorkerPeak } = await resumedRestore(island, snapshotId, sizeBytes, RESUME_LEFT_BLOCKS);
            return { detail, ownPeaks: { 'worker-1': killedWorkerPeak } };
          },
        );
      }
      // last: the agent keeps what it grew to resident, and a later phase would count that as its own peak
      const allocated = await fullyAllocatedVolume(island, sizeBytes);
      ctx.log('a volume whose image is allocated in full ready');
      await measure('snapshot of a 4 TiB volume whose image is allocated in full (the agent takes, diffs and drops points in time)', async () => {
        const { snap: done } = await timedSnapshot(island, allocated.volumeId, { timeoutMs: 3_600_000 });
        const available = performance.now();
        await waitUntilDropped(allocated.path, allocated.pointInTime);
        const dropped = ((performance.now() - available) / 1000).toFixed(0);
        return `the snapshot available with ${String(done.blocksTotal)} changed block(s); the earlier point in time dropped ${dropped} s later`;
      });
      return {
        rows: phases.map((p) => rowOf(p)),
        notes: notes(blockCount, distinct, phases, 'unavailable' in roomy ? `no file system with room for it (${roomy.unavailable})` : undefined),
      };
    } finally {
      await island.stop();
      if ('mountPoint' in roomy) roomy.remove();
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
): Promise<{ volumeId: string; snapshotId: string; path: string }> {
  const volumeId = String((await island.request('POST', '/v1/volumes', { sizeBytes })).body.id);
  const path = await attachAndWait(island, volumeId);
  const image = await Qcow2Image.open(path, { writable: true });
  await image.write(0, randomBytes(BLOCK_SIZE));
  await image.close();
  const { id: snapshotId } = await timedSnapshot(island, volumeId, { timeoutMs: 600_000 });
  await inflateSnapshot(island, snapshotId, { blockCount, distinct, projectId: 'alpha' });
  return { volumeId, snapshotId, path };
}

/**
 * `island catalog rebuild` of RegionOne by a second island with an empty catalog, on the first one's Swift container
 * and with its KEK, as an operator who lost the catalog would run it; the second island's GC worker (which rebuilds) and
 * API peaks are the phase's.
 */
async function rebuildInSecondIsland(island: IslandStack): Promise<{ detail: string; ownPeaks: Record<string, number> }> {
  const second = await startIsland({
    container: island.container,
    workers: 1,
    env: { ISLAND_KEK_FILE: island.kekFile, ISLAND_QUOTA_GIGABYTES: '100000', ISLAND_SWIFT_TIMEOUT_MS: '600000' },
  });
  try {
    const measured = ['gc', 'api'];
    for (const p of measured) resetPeakRss(second.pid(p));
    const report = second.adminJson<Json>('catalog', 'rebuild', '--region', 'RegionOne', '--wait');
    if (Number(report.snapshotsIncomplete) !== 0 || Number(report.snapshotsRebuilt) < 2) {
      throw new Error(`the rebuild did not bring every snapshot back: ${JSON.stringify(report)}`);
    }
    const ownPeaks = Object.fromEntries(measured.map((p) => [`${p} of the rebuilding island`, peakRss(second.pid(p))]));
    return {
      detail: `${String(report.volumesRebuilt)} volume(s), ${String(report.snapshotsRebuilt)} snapshot(s), ${String(report.blockVersions)} block versions rebuilt`,
      ownPeaks,
    };
  } finally {
    await second.stop();
  }
}

/**
 * A volume snapshotted once through island while its image was empty, whose image is then replaced by one of the same
 * size with every cluster allocated (qemu-img's preallocation=metadata: all L2 tables and refcounts written, the file
 * sparse) holding the same point in time: the next snapshot makes the agent take, diff and drop points in time of an
 * image as large as the volume, allocated in full, without 4 TiB written to this host's disk.
 */
async function fullyAllocatedVolume(island: IslandStack, sizeBytes: number): Promise<{ volumeId: string; path: string; pointInTime: string }> {
  const volumeId = String((await island.request('POST', '/v1/volumes', { sizeBytes })).body.id);
  const path = await attachAndWait(island, volumeId);
  await timedSnapshot(island, volumeId);
  const [pointInTime] = pointsInTime(path);
  if (!pointInTime) throw new Error(`${path} holds no point in time after its first snapshot`);
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', 'preallocation=metadata', path, String(sizeBytes)]);
  execFileSync('qemu-img', ['snapshot', '-c', pointInTime, path]);
  return { volumeId, path, pointInTime };
}

/** The internal snapshots of an image, by name, read beside its writer (`-U`). */
function pointsInTime(path: string): string[] {
  const info = JSON.parse(execFileSync('qemu-img', ['info', '-U', '--output=json', path]).toString()) as { snapshots?: { name: string }[] };
  return (info.snapshots ?? []).map((s) => s.name);
}

/** Waits until the agent has dropped `pointInTime` from the image (after the next snapshot's commit). */
async function waitUntilDropped(path: string, pointInTime: string): Promise<void> {
  for (const started = performance.now(); pointsInTime(path).includes(pointInTime);) {
    if (performance.now() - started > 600_000) throw new Error(`${pointInTime} still in ${path} after 10 minutes`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

function rowOf(phase: Phase): BenchmarkRow {
  const [busiest, bytes] = Object.entries(phase.peaks).sort((a, b) => b[1] - a[1])[0];
  return peakRssRow(`${phase.name}: peak RSS of the largest island process (${busiest})`, bytes);
}

function describePeaks(peaks: Record<string, number>): string {
  return Object.entries(peaks)
    .map(([p, b]) => `${p} ${(b / MIB).toFixed(0)} MiB`)
    .join(', ');
}

function notes(blockCount: number, distinct: number, phases: Phase[], restoreSkipped: string | undefined): string[] {
  return [
    `A volume of ${blockCount} blocks of 1 MiB, all allocated in its snapshot: ${((blockCount * 32) / MIB).toFixed(0)} MiB of block ` +
      `names in its manifest. The snapshot is synthetic: block 0 written and snapshotted through island, then ${distinct} ` +
      'distinct sealed blocks (each filling a stretch of consecutive indexes) put in Swift, their catalog rows and every ' +
      'block version generated in SQL, and the manifest rewritten with the block store’s streaming writer ' +
      '(tools/bench/src/synthetic-snapshot.ts). The phases then run through the real API, agents, workers and GC worker. ' +
      'The volume’s image on the host stays sparse (the snapshot’s data is in Swift), so the incremental snapshot diffs ' +
      'a sparse image: it shows that commit and the next manifest do not hold the volume’s block map. The agent’s own ' +
      'work on a volume of that size allocated in full is the last phase: a second volume as large, snapshotted through ' +
      'island while empty, then its image replaced by one allocated in full (`qemu-img create -o preallocation=metadata`: ' +
      'every L2 table and refcount written, the file sparse) holding the same point in time (`qemu-img snapshot -c`); its ' +
      'next snapshot makes the agent take a point in time of it (every cluster’s refcount raised), diff it against the ' +
      'first and, after the commit, drop the first.',
    'The restore: a full one writes the volume’s 4 TiB, which neither this host’s disk (80 GB free) nor its two cores ' +
      '(~4 CPU-s per GiB restored: hours) can take, so what grows with the volume is measured on a restore resumed near its ' +
      'end (tools/bench/src/resumed-restore.ts). The hosts’ data directories are on an ext4 file system on a sparse file ' +
      '(a loop device: tools/bench/src/sparse-filesystem.ts) that reports room for the volume, so that the API’s placement ' +
      'and the worker’s free-space check let it start. The restore streams the manifest and writes for 20 s after its ' +
      'first progress record, keeping only the blocks in flight (8 GETs and 16 queued writes within the worker’s block ' +
      'memory budget of 64 MiB, libs/blockstore/src/block-memory-budget.ts; the last 16 distinct blocks); then its worker ' +
      'is killed (SIGKILL), the partial image replaced by one of the volume’s size allocated in full (qemu-img’s ' +
      'preallocation=metadata) and the progress record made to claim every block but the last 64. The revived worker ' +
      'resumes: it checks the partial image (every cluster’s references counted, 2^24 clusters — 1 TiB — a pass: ' +
      'libs/qcow2/src/reference-window.ts; a Map entry per cluster, before, threw past ~1 TiB allocated), streams the ' +
      'manifest past what the record claims, writes the last blocks, takes the point in time (every cluster’s refcount ' +
      'raised; the qcow2 writer keeps at most 64 refcount blocks, 4 MiB, and 128 L2 tables, 8 MiB, in memory) and renames the image into place. ' +
      'The volume’s bytes are then not the snapshot’s (the claimed blocks are zeros): it is detached and deleted. Its ' +
      'row’s worker-1 peak is the larger of the killed worker’s and the revived one’s. ' +
      (restoreSkipped ? `Not run in this run: ${restoreSkipped}.` : ''),
    'The catalog rebuild: a second island with an empty catalog, on the same Swift container and with the same KEK, ' +
      'runs `island catalog rebuild --region RegionOne --wait`, as an operator who lost the catalog would; its GC worker ' +
      'loads Swift’s block listing and each manifest’s block map, streamed, into temporary tables of its own database ' +
      'session (libs/catalog/src/repositories/rebuild-scratch.ts) and computes there what is missing, the block rows and ' +
      'each snapshot’s change against the one before; the rows are the second island’s GC worker and API.',
    'Every island process runs with the heap cap the stack gives it (ISLAND_HEAP_MIB, 192 MiB of old space by default).',
    'Peak RSS is each process’s VmHWM, set back to its current RSS (clear_refs 5) before each phase.',
    ...phases.map((p) => `${p.name}: ${p.seconds.toFixed(0)} s; ${p.detail}; peaks: ${describePeaks(p.peaks)}.`),
    'Reproduce: `npm run bench -- memory` (ISLAND_BENCH_MEMORY_BLOCKS, ISLAND_BENCH_MEMORY_DISTINCT to scale it).',
  ];
}
