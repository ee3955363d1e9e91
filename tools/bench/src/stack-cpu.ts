import { randomBytes } from 'node:crypto';
import { Qcow2Image } from '@island/qcow2';
import { IslandStack, PollOptions, pollUntil } from '@island/stack';
import { GIB, MIB, processCpuSeconds, processMinorFaults, processThreadCpu, ThreadCpu, threadCpuSince } from './cpu';
import { counterTotal } from './control-plane/island-metrics';
import { peakRss, resetPeakRss } from './process-memory';
import { attachAndWait, timedSnapshot } from './stack-timing';

type Json = Record<string, unknown>;

/** How often `island … --wait` asks for the state of what it waits on once it has waited 1.6 s (apps/cli/src/api/wait.ts, pollDelay). */
const CLI_POLL_MS = 400;

/** CPU seconds the named processes of a stack used for one step, and the step's wall clock. */
export interface StepUsage {
  total: number;
  seconds: number;
  byProcess: Record<string, number>;
  /** The process that used the most CPU in the step, how its threads shared it, its full (mark-compact) collections, minor page faults and peak RSS (bytes). */
  busiest: { name: string; threads: ThreadCpu; fullCollections: number; minorFaults: number; peakRss: number };
  /** The process whose resident set peaked highest in the step, and that peak (bytes). */
  largest: { name: string; peakRss: number };
  /** CPU seconds of the processes measured beside island's (`besides`), not counted in `total`. */
  besides: Record<string, number>;
}

/**
 * On a stack: a first snapshot of 1 GiB of random data (or of what `data` gives), its restore into a new volume and
 * (`copy`) its copy to RegionTwo, each with the CPU the named processes used (/proc, user + system), and that of the
 * processes `besides` (by name, their pids: e.g. the object store) apart.
 */
export async function measureOneGiB(
  island: IslandStack,
  processes: string[],
  log: (m: string) => void,
  options: { copy: boolean; besides?: Record<string, number>; data?: (length: number) => Buffer },
): Promise<{ snapshot: StepUsage; restore: StepUsage; copy?: StepUsage }> {
  const pids = Object.fromEntries(processes.map((name) => [name, island.pid(name)]));
  const besidePids = options.besides ?? {};
  const measure = async (what: string, step: () => Promise<unknown>): Promise<StepUsage> => {
    // scraped before the CPU baseline: the processes' CPU answering it is not the step's
    const collectionsBefore = Object.fromEntries(await Promise.all(processes.map(async (name) => [name, await fullCollections(island, name)] as const)));
    const before = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, processCpuSeconds(pid)]));
    const besideBefore = Object.fromEntries(Object.entries(besidePids).map(([name, pid]) => [name, processCpuSeconds(pid)]));
    const threadsBefore = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, processThreadCpu(pid)]));
    const faultsBefore = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, processMinorFaults(pid)]));
    for (const pid of Object.values(pids)) resetPeakRss(pid);
    const started = performance.now();
    await step();
    const seconds = (performance.now() - started) / 1000;
    const byProcess = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, processCpuSeconds(pid) - before[name]]));
    const besides = Object.fromEntries(Object.entries(besidePids).map(([name, pid]) => [name, processCpuSeconds(pid) - besideBefore[name]]));
    const total = Object.values(byProcess).reduce((a, b) => a + b, 0);
    const busiest = Object.entries(byProcess).reduce((a, b) => (b[1] > a[1] ? b : a))[0];
    const threads = threadCpuSince(threadsBefore[busiest], processThreadCpu(pids[busiest]));
    const minorFaults = processMinorFaults(pids[busiest]) - faultsBefore[busiest];
    const collections = (await fullCollections(island, busiest)) - collectionsBefore[busiest];
    const peaks = Object.entries(pids).map(([name, pid]) => ({ name, peakRss: peakRss(pid) }));
    const largest = peaks.reduce((a, b) => (b.peakRss > a.peakRss ? b : a));
    log(`${what}: ${seconds.toFixed(1)} s, CPU of ${processes.join(' + ')} ${total.toFixed(2)} s`);
    return {
      total,
      seconds,
      byProcess,
      busiest: { name: busiest, threads, fullCollections: collections, minorFaults, peakRss: peakRss(pids[busiest]) },
      largest,
      besides,
    };
  };

  // waits poll as the CLI's --wait does: the API's CPU for a user's wait is part of what a GiB costs, a test's faster
  // polling (up to 50 a second at first) would not be
  const poll = { intervalMs: CLI_POLL_MS, timeoutMs: 600_000 };
  const volumeId = await writtenVolume(island, GIB, options.data ?? randomBytes);

  let snapshotId = '';
  const snapshot = await measure('first snapshot', async () => {
    snapshotId = (await timedSnapshot(island, volumeId, poll)).id;
  });
  const clone = String((await island.request('POST', '/v1/volumes', { sizeBytes: GIB, snapshotId })).body.id);
  const restore = await measure('restore', () => attachAndWait(island, clone, poll));
  if (!options.copy) return { snapshot, restore };
  const copy = await measure('region copy', () => copyToRegionTwo(island, snapshotId, poll));
  return { snapshot, restore, copy };
}

/**
 * The mean of a step measured in several passes (each over 1 GiB): CPU and wall clock averaged, process by process; the
 * busiest process is each pass's own (their names joined when they differ: a copy goes to either worker), its threads,
 * collections and faults averaged; peaks are the highest of any pass.
 */
export function meanStepUsage(passes: StepUsage[]): StepUsage {
  const n = passes.length;
  const mean = (pick: (u: StepUsage) => number) => passes.reduce((sum, u) => sum + pick(u), 0) / n;
  const meanByName = (pick: (u: StepUsage) => Record<string, number>) => {
    const names = [...new Set(passes.flatMap((u) => Object.keys(pick(u))))];
    return Object.fromEntries(names.map((name) => [name, mean((u) => pick(u)[name] ?? 0)]));
  };
  const threadField = (field: keyof ThreadCpu) => mean((u) => u.busiest.threads[field]);
  const largest = passes.map((u) => u.largest).reduce((a, b) => (b.peakRss > a.peakRss ? b : a));
  return {
    total: mean((u) => u.total),
    seconds: mean((u) => u.seconds),
    byProcess: meanByName((u) => u.byProcess),
    besides: meanByName((u) => u.besides),
    busiest: {
      name: [...new Set(passes.map((u) => u.busiest.name))].join('/'),
      threads: {
        mainUser: threadField('mainUser'),
        mainSystem: threadField('mainSystem'),
        otherUser: threadField('otherUser'),
        otherSystem: threadField('otherSystem'),
      },
      fullCollections: mean((u) => u.busiest.fullCollections),
      minorFaults: mean((u) => u.busiest.minorFaults),
      peakRss: Math.max(...passes.map((u) => u.busiest.peakRss)),
    },
    largest,
  };
}

/**
 * Runs `rounds` small snapshots, restores and (`copy`) region copies of `bytes` of random data each, one after another,
 * so that every worker of the stack has run each kind of job before anything is measured: what a process pays once
 * (code compiled on first use, its memory grown to its working size, connections opened) is not a cost per GiB. Uploads
 * and restores go to the host's workers, copies to any worker in turn: two rounds reach both workers of a two-region
 * stack, four leave room for an uneven turn.
 */
export async function warmUp(island: IslandStack, options: { rounds: number; bytes: number; copy: boolean }): Promise<void> {
  const poll = { intervalMs: 100, timeoutMs: 600_000 };
  for (let round = 0; round < options.rounds; round++) {
    const volumeId = await writtenVolume(island, options.bytes, randomBytes);
    const { id: snapshotId } = await timedSnapshot(island, volumeId, poll);
    const clone = String((await island.request('POST', '/v1/volumes', { sizeBytes: options.bytes, snapshotId })).body.id);
    await attachAndWait(island, clone, poll);
    if (options.copy) await copyToRegionTwo(island, snapshotId, poll);
  }
}

/** A new volume of `bytes`, attached on the stack's host and written in full with what `data` gives, 64 MiB at a time; its id. */
async function writtenVolume(island: IslandStack, bytes: number, data: (length: number) => Buffer): Promise<string> {
  const volumeId = String((await island.request('POST', '/v1/volumes', { sizeBytes: bytes })).body.id);
  const image = await Qcow2Image.open(await attachAndWait(island, volumeId), { writable: true });
  for (let at = 0; at < bytes; at += 64 * MIB) await image.write(at, data(Math.min(64 * MIB, bytes - at)));
  await image.close();
  return volumeId;
}

/** Copies a snapshot to RegionTwo and waits until the copy is available. */
async function copyToRegionTwo(island: IslandStack, snapshotId: string, poll: PollOptions<Json>): Promise<void> {
  const created = await island.request<Json>('POST', `/v1/snapshots/${snapshotId}/copy`, { region: 'RegionTwo' });
  await pollUntil(island, `/v1/snapshots/${String(created.body.id)}`, (s) => s.status === 'available', poll);
}

/** Full (mark-compact) collections a process of the stack has run so far, from its /metrics (prom-client's GC histogram). */
async function fullCollections(island: IslandStack, name: string): Promise<number> {
  const port = island.metricsPort(name);
  return port === undefined ? NaN : counterTotal([port], 'island_process_nodejs_gc_duration_seconds_count', 'kind="major"');
}
