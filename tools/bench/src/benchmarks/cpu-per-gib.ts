import { join } from 'node:path';
import { aead } from '@island/blockstore';
import { localSwift, startIsland } from '@island/stack';
import { Benchmark, BenchmarkRow } from '../benchmark';
import {
  FLOOR_MALLOC_TUNABLES,
  FLOOR_ROUNDS,
  Floors,
  measureDiskWrite,
  measureFloorsApart,
  measureFloorsBesideLoad,
  SAMPLE_BLOCKS,
  sampleBlocks,
} from '../floors';
import { curlRegionCopy, curlTransfers, RawTransferTime } from '../raw-curl';
import { peakRssRow } from '../process-memory';
import { measureOneGiB, StepUsage } from '../stack-cpu';
import { withIslandOverSink } from '../sink/sink-process';

/** The processes of island on the stack (two regions, one worker each): what the CPU per GiB counts. */
const ISLAND_PROCESSES = ['api', 'agent', 'worker-1', 'gc', 'agent-two', 'worker-two'];

/** What the sink may hold: the 1 GiB snapshot's sealed blocks, its manifest and key, with room to spare. */
const SINK_MAX_BYTES = 1.5 * 2 ** 30;

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
    const diskWrite = measureDiskWrite(sampleBlocks(), ctx.workDir);
    const floors = stepFloors(f);
    const loadedFloors = stepFloors(measureFloorsBesideLoad());
    ctx.log(`floors (CPU s/GiB): snapshot ${floors.snapshot.toFixed(2)}, restore ${floors.restore.toFixed(2)}, copy ${floors.copy.toFixed(2)}`);
    const island = await startIsland({ workers: 1, twoRegions: true });
    let used: { snapshot: StepUsage; restore: StepUsage; copy?: StepUsage };
    let curl: { get: RawTransferTime; put: RawTransferTime; objects: number };
    try {
      used = await measureOneGiB(island, ISLAND_PROCESSES, ctx.log, { copy: true });
      // what moving the same objects costs a client that only moves bytes: curl, GET from RegionOne then PUT to RegionTwo
      // (the GETs measured apart, into /dev/null: those into /dev/shm, which the PUTs read, also pay for the files)
      const blockNames = [...(await island.swiftObjects('blocks/')).keys()];
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
      return `${name}, ${usage.busiest.name}: main thread ${t.mainUser.toFixed(2)} user + ${t.mainSystem.toFixed(2)} system, other threads ${t.otherUser.toFixed(2)} + ${t.otherSystem.toFixed(2)}, ${usage.busiest.fullCollections} mark-compacts, ${(usage.busiest.minorFaults / 1024).toFixed(0)} page faults per MiB, peak RSS ${(usage.busiest.peakRss / 2 ** 20).toFixed(0)} MiB`;
    };
    return {
      rows: [
        row('(a) first snapshot, 1 GiB incompressible', used.snapshot, floors.snapshot, 'HMAC-SHA256 + MD5 + AES-256-GCM', 1.5),
        row('(b) restore, 1 GiB', used.restore, floors.restore, 'HMAC-SHA256 + AES-256-GCM open', 1.5),
        row('(c) region copy, 1 GiB', copy, floors.copy, 'MD5', 1.2),
        {
          metric: '(c) region copy, 1 GiB, against curl moving the same objects',
          island: `${copy.total.toFixed(2)} s/GiB`,
          baseline: `curl GET + PUT ${(curlGet + curlPut).toFixed(2)} s/GiB`,
          ratio: copy.total / (curlGet + curlPut),
          goal: 'reported',
          pass: true,
        },
        sinkRow('(a) first snapshot, 1 GiB incompressible, the object store a local sink (Swift off the cores)', overSink.snapshot, floors.snapshot),
        sinkRow('(b) restore, 1 GiB, the object store a local sink', overSink.restore, floors.restore),
        memoryRow('first snapshot', used.snapshot),
        memoryRow('restore', used.restore),
        memoryRow('region copy', copy),
      ],
      notes: [
        `island's processes (API, agents, workers, GC) from /proc, user + system, per GiB: ${split('snapshot', used.snapshot)}; ${split('restore', used.restore)}; ${split('copy', copy)}.`,
        `Floors, in a process of their own on one core, started with GLIBC_TUNABLES=${FLOOR_MALLOC_TUNABLES} so that each 1 MiB output reuses freed memory instead of faulting in fresh pages (under glibc's defaults the cipher's floors counted 200–260 page faults per MiB: docs/performance.md), ${SAMPLE_BLOCKS} distinct random 1 MiB blocks cycled to 1 GiB, medians of ${FLOOR_ROUNDS} rounds (CPU s/GiB): HMAC-SHA256 ${f.hmac.toFixed(2)}, MD5 ${f.md5.toFixed(2)}, AES-256-GCM (${aead.implementation === 'native' ? "island's addon, into given memory, as island's processes run it" : 'node:crypto: the addon is not built'}) seal ${f.seal.toFixed(2)}, open ${f.open.toFixed(2)}. A snapshot names each block (HMAC), seals it and sends it with its MD5 (Swift checks it); a restore authenticates, opens and checks each block's name (block GETs skip the MD5: the tag and the name check them); a copy moves sealed objects unopened, with the MD5 Swift gave (the target Swift checks it).`,
        `How the busiest process's threads shared its CPU (s/GiB; the other threads are libuv's pool — image reads and writes, fdatasync — and V8's concurrent collector, whose work is mostly the process's full collections; its minor page faults per MiB moved, where a MiB of fresh memory is 256; its peak resident set in the step): ${threads('snapshot', used.snapshot)}; ${threads('restore', used.restore)}; ${threads('copy', copy)}.`,
        `What moving the bytes costs by itself: curl (8 processes on keep-alive connections, as the throughput baselines) GETs the same ${curl.objects} block objects from RegionOne into /dev/null and (read from files in /dev/shm) PUTs them to RegionTwo, using ${curlGet.toFixed(2)} CPU-s per GiB for the GETs and ${curlPut.toFixed(2)} for the PUTs (user + system of the curl processes, from bash's \`times\`; most of it the kernel's socket copies), ${(curlGet + curlPut).toFixed(2)} for the copy: more than the copy's goal allows island in all (1.2 × MD5 = ${(1.2 * floors.copy).toFixed(2)}), which counts only the checksum. The last row compares island's copy with that transfer cost instead.`,
        `Writing the restored image: 1 GiB written to a new file on the same disk in 1 MiB writes and fdatasync'd cost ${diskWrite.toFixed(2)} CPU-s in the bench's own process in the same run (median of ${FLOOR_ROUNDS}; kernel time, from 0.25 to 3 s between runs on this VM). A restore pays it beyond its floor; the goal's floor leaves it out.`,
        `The stack has one snapshot worker per region and shares the 2 cores with both Swifts, PostgreSQL and RabbitMQ. Whether that contention makes the floors' work dearer, measured in the same run: the floors again while another process keeps the other core busy hashing, snapshot ${loadedFloors.snapshot.toFixed(2)}, restore ${loadedFloors.restore.toFixed(2)}, copy ${loadedFloors.copy.toFixed(2)} CPU-s per GiB (idle: ${floors.snapshot.toFixed(2)}, ${floors.restore.toFixed(2)}, ${floors.copy.toFixed(2)}). The ratios are judged against the idle floors.`,
        `What a host whose Swift runs elsewhere would see (the two "local sink" rows): the same first snapshot and restore on a second stack (one region, one worker) whose object store is the bench's Swift sink (tools/bench/src/sink, a process of its own that checks each PUT's MD5 and keeps the objects in memory), so that Swift's ~7–10 CPU-s per GiB are off the two cores. ${split('snapshot', overSink.snapshot)}, the sink ${overSink.snapshot.besides.sink.toFixed(2)}; ${split('restore', overSink.restore)}, the sink ${overSink.restore.besides.sink.toFixed(2)}. Threads: ${threads('snapshot', overSink.snapshot)}; ${threads('restore', overSink.restore)}. Reported beside the goal rows, which stay judged against the real Swift.`,
        `Peak RSS: each island process's VmHWM, set back to its current RSS before each step (clear_refs 5); the steps run one after another in the same processes, so what a step leaves resident counts in the next one's peak. The memory goal is per process whatever the volume's size; these steps move 1 GiB of incompressible data, where \`npm run bench -- memory\` moves a 4 TiB volume's manifest.`,
        "The bench waits for each phase as `island … --wait` does, asking the API for its state every 400 ms (the CLI asks sooner in a wait's first 1.6 s, then at that interval): the API's CPU counted is what a user's wait costs it, not a test's faster polling.",
      ],
    };
  },
};

/** The floor of each step: a snapshot names (HMAC), checksums (MD5) and seals each block, a restore checks its name and opens it; a copy is judged against MD5 alone. */
function stepFloors(f: Floors): { snapshot: number; restore: number; copy: number } {
  return { snapshot: f.hmac + f.md5 + f.seal, restore: f.hmac + f.open, copy: f.md5 };
}

/** A first snapshot and a restore of 1 GiB on a stack whose RegionOne object store is the bench's Swift sink. */
async function measureOverSink(log: (m: string) => void): Promise<{ snapshot: StepUsage; restore: StepUsage }> {
  return withIslandOverSink(SINK_MAX_BYTES, { workers: 1 }, (island, sink) =>
    measureOneGiB(island, ['api', 'agent', 'worker-1', 'gc'], (m) => log(`over the sink, ${m}`), { copy: false, besides: { sink: sink.pid } }),
  );
}

function sinkRow(metric: string, usage: StepUsage, floor: number): BenchmarkRow {
  return {
    metric,
    island: `${usage.total.toFixed(2)} s/GiB`,
    baseline: `its floor ${floor.toFixed(2)} s/GiB`,
    ratio: usage.total / floor,
    goal: 'reported',
    pass: true,
  };
}

function memoryRow(step: string, usage: StepUsage): BenchmarkRow {
  return peakRssRow(`peak RSS of the largest island process over the ${step} (${usage.largest.name})`, usage.largest.peakRss);
}
