import { join } from 'node:path';
import { aead, md5Many } from '@island/blockstore';
import { localSwift, startIsland } from '@island/stack';
import { Benchmark, BenchmarkRow } from '../benchmark';
import {
  CompressibleFloors,
  FLOOR_MALLOC_TUNABLES,
  FLOOR_ROUNDS,
  Floors,
  measureCompressibleFloorsApart,
  measureDiskWrite,
  measureFloorsApart,
  measureFloorsBesideLoad,
  MD5_BATCH,
  SAMPLE_BLOCKS,
  sampleBlocks,
} from '../floors';
import { curlRegionCopy, curlTransfers, RawTransferTime } from '../raw-curl';
import { peakRssRow } from '../process-memory';
import { measureOneGiB, meanStepUsage, StepUsage, warmUp } from '../stack-cpu';
import { systemFileData } from '../system-files';
import { withIslandOverSink } from '../sink/sink-process';

/** The processes of island on the stack (two regions, one worker each): what the CPU per GiB counts. */
const ISLAND_PROCESSES = ['api', 'agent', 'worker-1', 'gc', 'agent-two', 'worker-two'];

/** What the sink may hold: the two 1 GiB snapshots' sealed blocks (incompressible, then compressible), the warm-up's, their manifests and key, with room to spare. */
const SINK_MAX_BYTES = 2.5 * 2 ** 30;

/** The warm-up before the measured steps (stack-cpu.ts, warmUp): four rounds of 32 MiB. */
const WARM_UP = { rounds: 4, bytes: 32 * 2 ** 20 };

/** What the cold rows' metrics add to their step's name. */
const COLD = ', cold: the first GiB in processes just started';

/** The warm passes the goal rows average: a copy goes to either worker in turn, so two passes give one to each. */
const WARM_PASSES = 2;

/** The three steps of one pass over 1 GiB. */
type Steps = { snapshot: StepUsage; restore: StepUsage; copy?: StepUsage };

/**
 * What island's own processes cost in CPU per GiB moved, the measure that holds on any host (deployed, Swift runs
 * elsewhere and these seconds are what a compute host gives up): a first snapshot, a restore and a region copy of
 * 1 GiB of incompressible data, each against the floor of what it must compute, measured in the same run on one
 * core of a process of its own (measureFloorsApart).
 */
export const cpuPerGib: Benchmark = {
  name: 'cpu-per-gib',
  title: "CPU seconds per GiB of island's own processes against the checksums and cipher they must compute",
  async run(ctx) {
    const f = measureFloorsApart();
    const cf = measureCompressibleFloorsApart();
    const diskWrite = measureDiskWrite(sampleBlocks(), ctx.workDir);
    const floors = stepFloors(f);
    const loadedFloors = stepFloors(measureFloorsBesideLoad());
    const compressibleFloors = compressibleStepFloors(cf);
    ctx.log(
      `floors (CPU s/GiB): snapshot ${floors.snapshot.toFixed(2)}, restore ${floors.restore.toFixed(2)}, copy ${floors.copy.toFixed(2)}; ` +
        `compressible: snapshot ${compressibleFloors.snapshot.toFixed(2)}, restore ${compressibleFloors.restore.toFixed(2)}`,
    );
    const island = await startIsland({ workers: 1, twoRegions: true });
    let cold: Steps;
    let used: Steps;
    let curl: { get: RawTransferTime; put: RawTransferTime; objects: number };
    try {
      // the first GiB in processes just started, then a warm-up of each kind of job (warmUp), then the passes
      // the goals are judged on: a host's workers run for weeks, and what a process pays once is not a cost per GiB
      cold = await measureOneGiB(island, ISLAND_PROCESSES, (m) => ctx.log(`cold, ${m}`), { copy: true });
      await warmUp(island, { ...WARM_UP, copy: true });
      const warm: Steps[] = [];
      let blocksBeforeLastPass = new Set<string>();
      for (let pass = 1; pass <= WARM_PASSES; pass++) {
        if (pass === WARM_PASSES) blocksBeforeLastPass = new Set((await island.swiftObjects('blocks/')).keys());
        warm.push(await measureOneGiB(island, ISLAND_PROCESSES, (m) => ctx.log(`warm ${pass}, ${m}`), { copy: true }));
      }
      used = {
        snapshot: meanStepUsage(warm.map((p) => p.snapshot)),
        restore: meanStepUsage(warm.map((p) => p.restore)),
        copy: meanStepUsage(warm.map((p) => p.copy as StepUsage)),
      };
      // what moving the same objects costs a client that only moves bytes: curl, GET from RegionOne then PUT to RegionTwo
      // (the GETs measured apart, into /dev/null: those into /dev/shm, which the PUTs read, also pay for the files)
      // the last pass's snapshot: 1 GiB of blocks no earlier step stored
      const blockNames = [...(await island.swiftObjects('blocks/')).keys()].filter((name) => !blocksBeforeLastPass.has(name));
      const { put } = await curlRegionCopy(island, ctx.workDir, blockNames);
      const swift = localSwift('RegionOne');
      const session = await swift.session().finally(() => swift.close());
      const discarded = blockNames.map((name) => ({ name, file: '/dev/null' }));
      const get = await curlTransfers({
        ...session,
        container: island.container,
        objects: discarded,
        direction: 'get',
        workDir: join(ctx.workDir, 'get-discard'),
      });
      curl = { get, put, objects: blockNames.length };
    } finally {
      await island.stop();
    }
    const overSink = await measureOverSink(ctx.log);
    const copy = used.copy as StepUsage;
    const coldCopy = cold.copy as StepUsage;
    const curlGiB = curl.objects / 1024; // the snapshot's 1 MiB block objects (sealed: a few bytes more each)
    const curlGet = curl.get.cpuSeconds / curlGiB;
    const curlPut = curl.put.cpuSeconds / curlGiB;
    const row = (metric: string, usage: StepUsage, floor: number, floorName: string, goal: number): BenchmarkRow => ({
      metric,
      island: `${usage.total.toFixed(2)} s/GiB`,
      baseline: `${floorName} ${floor.toFixed(2)} s/GiB`,
      ratio: usage.total / floor,
      goal: `≤ ${goal}×`,
      pass: usage.total <= goal * floor,
    });
    const split = (name: string, usage: StepUsage) =>
      `${name} (${usage.seconds.toFixed(1)} s wall clock): ${Object.entries(usage.byProcess)
        .filter(([, s]) => s >= 0.05)
        .map(([p, s]) => `${p} ${s.toFixed(2)}`)
        .join(', ')}`;
    const threads = (name: string, usage: StepUsage) => {
      const t = usage.busiest.threads;
      return `${name}, ${usage.busiest.name}: main thread ${t.mainUser.toFixed(2)} user + ${t.mainSystem.toFixed(2)} system, other threads ${t.otherUser.toFixed(2)} + ${t.otherSystem.toFixed(2)}, ${Number(usage.busiest.fullCollections.toFixed(1))} mark-compacts, ${(usage.busiest.minorFaults / 1024).toFixed(0)} page faults per MiB, peak RSS ${(usage.busiest.peakRss / 2 ** 20).toFixed(0)} MiB`;
    };
    return {
      rows: [
        row('(a) first snapshot, 1 GiB incompressible', used.snapshot, floors.snapshot, 'HMAC-SHA256 + MD5 + AES-256-GCM', 1.5),
        {
          metric: `(a) first snapshot, 1 GiB incompressible, against the floor with MD5 as island computes it (md5Many: ${md5Many.implementation}, ${MD5_BATCH} blocks at once)`,
          island: `${used.snapshot.total.toFixed(2)} s/GiB`,
          baseline: `HMAC-SHA256 + MD5 in lanes + AES-256-GCM ${floors.snapshotMd5Lanes.toFixed(2)} s/GiB`,
          ratio: used.snapshot.total / floors.snapshotMd5Lanes,
          goal: 'reported',
          pass: true,
        },
        row('(b) restore, 1 GiB', used.restore, floors.restore, 'HMAC-SHA256 + AES-256-GCM open', 1.5),
        {
          metric: '(b) restore, 1 GiB, against its floor plus curl receiving the same objects',
          island: `${used.restore.total.toFixed(2)} s/GiB`,
          baseline: `HMAC-SHA256 + AES-256-GCM open + curl GET ${(floors.restore + curlGet).toFixed(2)} s/GiB`,
          ratio: used.restore.total / (floors.restore + curlGet),
          goal: 'reported',
          pass: true,
        },
        row('(c) region copy, 1 GiB', copy, floors.copy, 'MD5', 1.2),
        {
          metric: '(c) region copy, 1 GiB, against curl moving the same objects',
          island: `${copy.total.toFixed(2)} s/GiB`,
          baseline: `curl GET + PUT ${(curlGet + curlPut).toFixed(2)} s/GiB`,
          ratio: copy.total / (curlGet + curlPut),
          goal: 'reported',
          pass: true,
        },
        reportedRow('(a) first snapshot, 1 GiB incompressible, the object store a local sink (Swift off the cores)', overSink.snapshot, floors.snapshot),
        reportedRow('(b) restore, 1 GiB, the object store a local sink', overSink.restore, floors.restore),
        reportedRow(
          "(a) first snapshot, 1 GiB of compressible data (the machine's own /usr files), the object store a local sink",
          overSink.compressible.snapshot,
          compressibleFloors.snapshot,
        ),
        reportedRow('(b) restore of that compressible snapshot, the object store a local sink', overSink.compressible.restore, compressibleFloors.restore),
        reportedRow(`(a) first snapshot, 1 GiB incompressible${COLD}`, cold.snapshot, floors.snapshot),
        reportedRow(`(b) restore, 1 GiB${COLD}`, cold.restore, floors.restore),
        reportedRow(`(c) region copy, 1 GiB${COLD}`, coldCopy, floors.copy),
        memoryRow('first snapshot', used.snapshot, cold.snapshot),
        memoryRow('restore', used.restore, cold.restore),
        memoryRow('region copy', copy, coldCopy),
      ],
      notes: [
        `Warm and cold: the goal rows measure the mean of ${WARM_PASSES} passes over 1 GiB, each moved by processes that have run each kind of job before (a warm-up of ${WARM_UP.rounds} rounds of ${WARM_UP.bytes / 2 ** 20} MiB, each snapshotted, restored into a new volume and copied to RegionTwo, after the cold pass: uploads and restores go to the host's worker, copies to either worker in turn: the warm passes' copies ran on ${copy.busiest.name}), as a host's workers do once they have run for a while; the "cold" rows measure the first GiB in processes just started (what a process pays once is in it: code compiled on first use, memory grown to its working size, connections opened), as this bench measured before 2026-12-07. Cold, per process: ${split('snapshot', cold.snapshot)}; ${split('restore', cold.restore)}; ${split('copy', coldCopy)}.`,
        `island's processes (API, agents, workers, GC) from /proc, user + system, per GiB, the warm passes' mean: ${split('snapshot', used.snapshot)}; ${split('restore', used.restore)}; ${split('copy', copy)}.`,
        `Floors, in a process of their own on one core, started with GLIBC_TUNABLES=${FLOOR_MALLOC_TUNABLES} so that each 1 MiB output reuses freed memory instead of faulting in fresh pages (under glibc's defaults the cipher's floors counted 200–260 page faults per MiB: docs/performance.md), ${SAMPLE_BLOCKS} distinct random 1 MiB blocks cycled to 1 GiB, medians of ${FLOOR_ROUNDS} rounds (CPU s/GiB): HMAC-SHA256 ${f.hmac.toFixed(2)}, MD5 ${f.md5.toFixed(2)} (OpenSSL, one block at a time: the goal's floor) or ${f.md5Lanes.toFixed(2)} as island's snapshots compute it (md5Many: ${md5Many.implementation === 'node:crypto' ? 'node:crypto, the addon is not built' : `island's addon, ${md5Many.implementation} vector lanes, ${MD5_BATCH} blocks at once`}), AES-256-GCM (${aead.implementation === 'native' ? "island's addon, into given memory, as island's processes run it" : 'node:crypto: the addon is not built'}) seal ${f.seal.toFixed(2)}, open ${f.open.toFixed(2)}. A snapshot names each block (HMAC), seals it and sends it with its MD5 (Swift checks it); a restore authenticates, opens and checks each block's name (block GETs skip the MD5: the tag and the name check them); a copy moves sealed objects unopened, with the MD5 Swift gave (the target Swift checks it).`,
        `How the busiest process's threads shared its CPU (the warm passes' mean, s/GiB; the other threads are libuv's pool — image reads and writes, fdatasync — and V8's concurrent collector, whose work is mostly the process's full collections; its minor page faults per MiB moved, where a MiB of fresh memory is 256; its peak resident set in the step): ${threads('snapshot', used.snapshot)}; ${threads('restore', used.restore)}; ${threads('copy', copy)}.`,
        `What moving the bytes costs by itself: curl (8 processes on keep-alive connections, as the throughput baselines) GETs the same ${curl.objects} block objects from RegionOne into /dev/null and (read from files in /dev/shm) PUTs them to RegionTwo, using ${curlGet.toFixed(2)} CPU-s per GiB for the GETs and ${curlPut.toFixed(2)} for the PUTs (user + system of the curl processes, from bash's \`times\`; most of it the kernel's socket copies), ${(curlGet + curlPut).toFixed(2)} for the copy: more than the copy's goal allows island in all (1.2 × MD5 = ${(1.2 * floors.copy).toFixed(2)}), which counts only the checksum. The copy row so named compares island's copy with that transfer cost instead; the restore row so named adds curl's GETs to the restore's floor: what receiving the bytes costs any client on this machine, which the floor leaves out.`,
        `Writing the restored image: 1 GiB written to a new file on the same disk in 1 MiB writes and fdatasync'd cost ${diskWrite.reusedMemory.toFixed(2)} CPU-s in the bench's own process in the same run when the kernel had just freed the memory it wrote into (the round before's file deleted), ${diskWrite.grownCache.toFixed(2)} when the page cache had to grow into memory free for a while (the earlier files kept; medians of ${FLOOR_ROUNDS}; kernel time). The difference is this virtual machine's: its hypervisor takes back memory the guest leaves free and faults each page in again at its first touch (docs/performance.md, "The page cache on memory the hypervisor took back"). A restore pays neither where its file system allows: it writes its blocks past the page cache (O_DIRECT, from the page-aligned memory its worker lends them in: docs/performance.md, "A restore's writes past the page cache"), which cost ${Number.isNaN(diskWrite.pastPageCache) ? 'nothing measured here (the addon is not built or the file system refuses O_DIRECT)' : `${diskWrite.pastPageCache.toFixed(2)} CPU-s`} for the same GiB in the same process; what a restore's other threads (below) still use is its image's metadata, its fdatasyncs and V8's collector.`,
        `The stack has one snapshot worker per region and shares the 2 cores with both Swifts, PostgreSQL and RabbitMQ. Whether that contention makes the floors' work dearer, measured in the same run: the floors again while another process keeps the other core busy hashing, snapshot ${loadedFloors.snapshot.toFixed(2)}, restore ${loadedFloors.restore.toFixed(2)}, copy ${loadedFloors.copy.toFixed(2)} CPU-s per GiB (idle: ${floors.snapshot.toFixed(2)}, ${floors.restore.toFixed(2)}, ${floors.copy.toFixed(2)}). The ratios are judged against the idle floors.`,
        `What a host whose Swift runs elsewhere would see (the two "local sink" rows): the same first snapshot and restore on a second stack (one region, one worker) whose object store is the bench's Swift sink (tools/bench/src/sink, a process of its own that checks each PUT's MD5 and keeps the objects in memory), so that Swift's ~7–10 CPU-s per GiB are off the two cores; its processes first given the same warm-up (without copies: one region), no cold pass. ${split('snapshot', overSink.snapshot)}, the sink ${overSink.snapshot.besides.sink.toFixed(2)}; ${split('restore', overSink.restore)}, the sink ${overSink.restore.besides.sink.toFixed(2)}. Threads: ${threads('snapshot', overSink.snapshot)}; ${threads('restore', overSink.restore)}. Reported beside the goal rows, which stay judged against the real Swift.`,
        `Compressible data (the two rows so named): a second volume holding 1 GiB of this machine's own files under /usr/bin, /usr/lib and /usr/share in path order, each from a 4 KiB boundary as a file system places them (tools/bench/src/system-files.ts: what a guest's root file system mostly holds), snapshotted and restored on the same stack over the sink. Its floors, in a process of their own as the others, per GiB of plain content (CPU s/GiB): HMAC-SHA256 of the plain block ${cf.hmac.toFixed(2)}, zstd level 3 (island's) ${cf.compress.toFixed(2)}, which leaves ${(100 * cf.ratio).toFixed(0)} % of the bytes; MD5 ${cf.md5.toFixed(2)} (${cf.md5Lanes.toFixed(2)} in lanes as island computes it), seal ${cf.seal.toFixed(2)} and open ${cf.open.toFixed(2)} of those; zstd decompression ${cf.decompress.toFixed(2)}: snapshot ${compressibleFloors.snapshot.toFixed(2)} (name, compress, MD5, seal), restore ${compressibleFloors.restore.toFixed(2)} (open, decompress, name). ${split('snapshot', overSink.compressible.snapshot)}, the sink ${overSink.compressible.snapshot.besides.sink.toFixed(2)}; ${split('restore', overSink.compressible.restore)}, the sink ${overSink.compressible.restore.besides.sink.toFixed(2)}. Threads: ${threads('snapshot', overSink.compressible.snapshot)}; ${threads('restore', overSink.compressible.restore)}. Reported: the goals are set on incompressible data.`,
        `Peak RSS: each island process's VmHWM, set back to its current RSS before each step (clear_refs 5); the steps run one after another in the same processes, so what a step leaves resident counts in the next one's peak. The memory goal is per process whatever the volume's size; these steps move 1 GiB of incompressible data, where \`npm run bench -- memory\` moves a 4 TiB volume's manifest.`,
        "The bench waits for each phase as `island … --wait` does, asking the API for its state every 400 ms (the CLI asks sooner in a wait's first 1.6 s, then at that interval): the API's CPU counted is what a user's wait costs it, not a test's faster polling.",
      ],
    };
  },
};

/** The floor of each step: a snapshot names (HMAC), checksums (MD5) and seals each block, a restore checks its name and opens it; a copy is judged against MD5 alone. */
function stepFloors(f: Floors): { snapshot: number; snapshotMd5Lanes: number; restore: number; copy: number } {
  return { snapshot: f.hmac + f.md5 + f.seal, snapshotMd5Lanes: f.hmac + f.md5Lanes + f.seal, restore: f.hmac + f.open, copy: f.md5 };
}

/** The floors of compressible blocks' steps: a snapshot names, compresses, checksums and seals each block; a restore opens, decompresses and names it. */
function compressibleStepFloors(f: CompressibleFloors): { snapshot: number; restore: number } {
  return { snapshot: f.hmac + f.compress + f.md5 + f.seal, restore: f.open + f.decompress + f.hmac };
}

interface SinkSteps {
  snapshot: StepUsage;
  restore: StepUsage;
}

/**
 * A first snapshot and a restore of 1 GiB on a stack whose RegionOne object store is the bench's Swift sink, then the
 * same of 1 GiB of compressible data.
 */
async function measureOverSink(log: (m: string) => void): Promise<SinkSteps & { compressible: SinkSteps }> {
  return withIslandOverSink(SINK_MAX_BYTES, { workers: 1 }, async (island, sink) => {
    const processes = ['api', 'agent', 'worker-1', 'gc'];
    const besides = { sink: sink.pid };
    await warmUp(island, { ...WARM_UP, copy: false });
    const random = await measureOneGiB(island, processes, (m) => log(`over the sink, ${m}`), { copy: false, besides });
    const compressible = await measureOneGiB(island, processes, (m) => log(`over the sink, compressible, ${m}`), {
      copy: false,
      besides,
      data: systemFileData(),
    });
    return { ...random, compressible };
  });
}

/** A step against its floor, reported beside the goal rows (over the sink, or cold). */
function reportedRow(metric: string, usage: StepUsage, floor: number): BenchmarkRow {
  return {
    metric,
    island: `${usage.total.toFixed(2)} s/GiB`,
    baseline: `its floor ${floor.toFixed(2)} s/GiB`,
    ratio: usage.total / floor,
    goal: 'reported',
    pass: true,
  };
}

/** The higher peak of a step's two passes, cold and warm. */
function memoryRow(step: string, warm: StepUsage, cold: StepUsage): BenchmarkRow {
  const largest = warm.largest.peakRss >= cold.largest.peakRss ? warm.largest : cold.largest;
  return peakRssRow(`peak RSS of the largest island process over the ${step}, cold or warm (${largest.name})`, largest.peakRss);
}
