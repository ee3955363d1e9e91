import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes } from 'node:crypto';
import { Qcow2Image } from '@island/qcow2';
import { IslandStack, pollUntil, startIsland } from '@island/stack';
import { Benchmark, BenchmarkRow } from '../benchmark';
import { attachAndWait } from '../stack-timing';
import { cpuSeconds, GIB, medianOf, MIB, overOneGiB, processCpuSeconds } from '../cpu';

/** Distinct 1 MiB blocks cycled through for the floors (1 GiB of work, 64 MiB of memory). */
const SAMPLE_BLOCKS = 64;
const ROUNDS = 3;
/** The processes of island on the stack (two regions, one worker each): what the CPU per GiB counts. */
const ISLAND_PROCESSES = ['api', 'agent', 'worker-1', 'gc', 'agent-two', 'worker-two'];
type Json = Record<string, unknown>;

/**
 * What island's own processes cost in CPU per GiB moved, the measure that holds on any host (deployed, Swift runs
 * elsewhere and these seconds are what a compute host gives up): a first snapshot, a restore and a region copy of
 * 1 GiB of incompressible data, each against the floor of what it must compute, measured in the same run on one
 * core of the bench's own process.
 */
export const cpuPerGib: Benchmark = {
  name: 'cpu-per-gib',
  title: "CPU seconds per GiB of island's own processes against the checksums and cipher they must compute",
  async run(ctx) {
    const floors = measureFloors();
    ctx.log(`floors (CPU s/GiB): snapshot ${floors.snapshot.toFixed(2)}, restore ${floors.restore.toFixed(2)}, copy ${floors.copy.toFixed(2)}`);
    const island = await startIsland({ workers: 1, twoRegions: true });
    let used: { snapshot: Usage; restore: Usage; copy: Usage };
    try {
      used = await measureStack(island, ctx.log);
    } finally {
      await island.stop();
    }
    const row = (metric: string, usage: Usage, floor: number, floorName: string, goal: number): BenchmarkRow => ({
      metric,
      island: `${usage.total.toFixed(2)} s/GiB`,
      baseline: `${floorName} ${floor.toFixed(2)} s/GiB`,
      ratio: usage.total / floor,
      goal: `≤ ${goal}×`,
      pass: usage.total <= goal * floor,
    });
    const split = (name: string, usage: Usage) =>
      `${name} (${usage.seconds.toFixed(1)} s wall clock): ${Object.entries(usage.byProcess)
        .filter(([, s]) => s >= 0.05)
        .map(([p, s]) => `${p} ${s.toFixed(2)}`)
        .join(', ')}`;
    return {
      rows: [
        row('(a) first snapshot, 1 GiB incompressible', used.snapshot, floors.snapshot, 'HMAC-SHA256 + MD5 + AES-256-GCM', 1.5),
        row('(b) restore, 1 GiB', used.restore, floors.restore, 'HMAC-SHA256 + AES-256-GCM open', 1.5),
        row('(c) region copy, 1 GiB', used.copy, floors.copy, 'MD5', 1.2),
      ],
      notes: [
        `island's processes (API, agents, workers, GC) from /proc, user + system, per GiB: ${split('snapshot', used.snapshot)}; ${split('restore', used.restore)}; ${split('copy', used.copy)}.`,
        `Floors, in the bench's own process on one core, ${SAMPLE_BLOCKS} distinct random 1 MiB blocks cycled to 1 GiB, medians of ${ROUNDS} rounds (CPU s/GiB): HMAC-SHA256 ${floors.hmac.toFixed(2)}, MD5 ${floors.md5.toFixed(2)}, AES-256-GCM seal ${floors.seal.toFixed(2)}, open ${floors.open.toFixed(2)}. A snapshot names each block (HMAC), seals it and sends it with its MD5 (Swift checks it); a restore authenticates, opens and checks each block's name (block GETs skip the MD5: the tag and the name check them); a copy moves sealed objects unopened, with the MD5 Swift gave (the target Swift checks it).`,
        'The stack has one snapshot worker per region and shares the 2 cores with both Swifts, PostgreSQL and RabbitMQ: CPU time grows under that contention (a hash costs about twice its idle-core time here, docs/performance.md), so the floors, taken on an idle core, are a lower bound the ratios are judged against.',
      ],
    };
  },
};

interface Usage {
  total: number;
  seconds: number;
  byProcess: Record<string, number>;
}

function measureFloors() {
  const blocks = Array.from({ length: SAMPLE_BLOCKS }, () => randomBytes(MIB));
  const key = randomBytes(32);
  const iv = randomBytes(12);
  const hmac = medianOf(ROUNDS, () => cpuSeconds(() => overOneGiB(blocks, (b) => createHmac('sha256', key).update(b).digest())));
  const md5 = medianOf(ROUNDS, () => cpuSeconds(() => overOneGiB(blocks, (b) => createHash('md5').update(b).digest())));
  const seal = medianOf(ROUNDS, () =>
    cpuSeconds(() =>
      overOneGiB(blocks, (b) => {
        const c = createCipheriv('aes-256-gcm', key, iv);
        c.update(b);
        c.final();
        return c.getAuthTag();
      }),
    ),
  );
  const sealed = blocks.map((b) => {
    const c = createCipheriv('aes-256-gcm', key, iv);
    return { data: Buffer.concat([c.update(b), c.final()]), tag: c.getAuthTag() };
  });
  const open = medianOf(ROUNDS, () =>
    cpuSeconds(() =>
      overOneGiB(sealed, (s) => {
        const d = createDecipheriv('aes-256-gcm', key, iv).setAuthTag(s.tag);
        d.update(s.data);
        return d.final();
      }),
    ),
  );
  return { hmac, md5, seal, open, snapshot: hmac + md5 + seal, restore: hmac + open, copy: md5 };
}

async function measureStack(island: IslandStack, log: (m: string) => void): Promise<{ snapshot: Usage; restore: Usage; copy: Usage }> {
  const pids = Object.fromEntries(ISLAND_PROCESSES.map((name) => [name, island.pid(name)]));
  const measure = async (what: string, step: () => Promise<unknown>): Promise<Usage> => {
    const before = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, processCpuSeconds(pid)]));
    const started = performance.now();
    await step();
    const seconds = (performance.now() - started) / 1000;
    const byProcess = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, processCpuSeconds(pid) - before[name]]));
    const total = Object.values(byProcess).reduce((a, b) => a + b, 0);
    log(`${what}: ${seconds.toFixed(1)} s, island CPU ${total.toFixed(2)} s`);
    return { total, seconds, byProcess };
  };

  const volumeId = String((await island.request('POST', '/v1/volumes', { sizeBytes: GIB })).body.id);
  const image = await Qcow2Image.open(await attachAndWait(island, volumeId), { writable: true });
  for (let at = 0; at < GIB; at += 64 * MIB) await image.write(at, randomBytes(64 * MIB));
  await image.close();

  let snapshotId = '';
  const snapshot = await measure('first snapshot', async () => {
    const created = await island.request('POST', '/v1/snapshots', { volumeId });
    snapshotId = String(created.body.id);
    await pollUntil(island, `/v1/snapshots/${snapshotId}`, (s) => s.status === 'available', { timeoutMs: 600_000 });
  });
  const clone = String((await island.request('POST', '/v1/volumes', { sizeBytes: GIB, snapshotId })).body.id);
  const restore = await measure('restore', () => attachAndWait(island, clone));
  const copy = await measure('region copy', async () => {
    const created = await island.request<Json>('POST', `/v1/snapshots/${snapshotId}/copy`, { region: 'RegionTwo' });
    await pollUntil(island, `/v1/snapshots/${String(created.body.id)}`, (s) => s.status === 'available', { timeoutMs: 600_000 });
  });
  return { snapshot, restore, copy };
}
