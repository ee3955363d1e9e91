import { randomBytes } from 'node:crypto';
import { openForWriting } from '@island/qcow2';
import { guestIo, IslandStack, pollUntil, startIsland } from '@island/stack';
import { Benchmark, BenchmarkRow } from '../benchmark';
import { median, timedSnapshot } from '../stack-timing';

const MIB = 1 << 20;
const GIB = 1 << 30;
const CHANGE_BLOCKS = 80;
const HISTORY = 20;

/**
 * What a snapshot's cost follows: (1) the same 80 MiB change on a volume holding 16 GiB and on one holding
 * 2 GiB; (2) restoring the oldest vs the newest of 20 snapshots (every snapshot has a complete manifest).
 */
export const snapshotScaling: Benchmark = {
  name: 'snapshot-scaling',
  title: 'Snapshot cost vs data held; restore time vs snapshot age',
  async run(ctx) {
    const island = await startIsland({ workers: 2 });
    const rows: BenchmarkRow[] = [];
    try {
      const io = guestIo(island);
      const small = await changeCost(island, io, 2 * GIB, ctx.log);
      const large = await changeCost(island, io, 16 * GIB, ctx.log);
      rows.push({
        metric: `snapshot of the same ${CHANGE_BLOCKS} MiB change, volume holding 16 GiB vs 2 GiB`,
        island: `16 GiB: ${(large / 1000).toFixed(2)} s`,
        baseline: `2 GiB: ${(small / 1000).toFixed(2)} s`,
        ratio: large / small,
        goal: '≤ 1.2×',
        pass: large / small <= 1.2,
      });

      const { oldest, newest } = await restoreByAge(island, io, ctx.log);
      rows.push({
        metric: `restore of 1 GiB: oldest vs newest of ${HISTORY} snapshots`,
        island: `oldest: ${(oldest / 1000).toFixed(2)} s`,
        baseline: `newest: ${(newest / 1000).toFixed(2)} s`,
        ratio: oldest / newest,
        goal: '≤ 1.05',
        pass: oldest / newest <= 1.05,
      });
    } finally {
      await island.stop();
    }
    return {
      rows,
      notes: [
        `Change cost: each volume is filled with one 64 MiB random pattern repeated (the first snapshot deduplicates it), then ${CHANGE_BLOCKS} random 1 MiB blocks spread over the data get new random bytes; medians of 3 rounds.`,
        `Restore by age: a 1 GiB volume of random data, then ${HISTORY} snapshots each rewriting 5% of its blocks; the oldest and the newest are restored into new volumes alternately, 3 times each; medians.`,
      ],
    };
  },
};

async function changeCost(island: IslandStack, io: ReturnType<typeof guestIo>, held: number, log: (m: string) => void): Promise<number> {
  const volumeId = await io.createVolume(held);
  const path = await io.attach(volumeId);
  const pattern = randomBytes(64 * MIB);
  const image = await openForWriting(path);
  for (let at = 0; at < held; at += pattern.length) await image.write(at, pattern);
  await image.close();
  await timedSnapshot(island, volumeId);
  const times: number[] = [];
  for (let round = 0; round < 3; round++) {
    const image = await openForWriting(path);
    for (let i = 0; i < CHANGE_BLOCKS; i++) await image.write(Math.floor(Math.random() * (held / MIB)) * MIB, randomBytes(MIB));
    await image.close();
    times.push((await timedSnapshot(island, volumeId)).ms);
  }
  log(`${held / GIB} GiB held: ${times.map((t) => t.toFixed(0)).join(', ')} ms`);
  await io.deleteVolume(volumeId, true);
  return median(times);
}

async function restoreByAge(island: IslandStack, io: ReturnType<typeof guestIo>, log: (m: string) => void): Promise<{ oldest: number; newest: number }> {
  const volumeId = await io.createVolume(GIB);
  const path = await io.attach(volumeId);
  const image = await openForWriting(path);
  for (let at = 0; at < GIB; at += 64 * MIB) await image.write(at, randomBytes(64 * MIB));
  await image.close();
  const snapshots: string[] = [];
  for (let n = 0; n < HISTORY; n++) {
    if (n > 0) {
      const change = await openForWriting(path);
      for (let i = 0; i < (GIB / MIB) * 0.05; i++) await change.write(Math.floor(Math.random() * (GIB / MIB)) * MIB, randomBytes(MIB));
      await change.close();
    }
    snapshots.push(String((await io.snapshot(volumeId)).id));
  }
  const oldest: number[] = [];
  const newest: number[] = [];
  for (let round = 0; round < 3; round++) {
    oldest.push(await timedRestore(island, io, snapshots[0]));
    newest.push(await timedRestore(island, io, snapshots[HISTORY - 1]));
  }
  log(`restore oldest ${oldest.map((t) => t.toFixed(0)).join(', ')} ms; newest ${newest.map((t) => t.toFixed(0)).join(', ')} ms`);
  return { oldest: median(oldest), newest: median(newest) };
}

async function timedRestore(island: IslandStack, io: ReturnType<typeof guestIo>, snapshotId: string): Promise<number> {
  const clone = await io.createVolume(GIB, { snapshotId });
  const started = performance.now();
  await island.request('POST', `/v1/volumes/${clone}/attach`, { host: island.host });
  await pollUntil(island, `/v1/volumes/${clone}`, (v) => v.status === 'in-use', {
    failed: (v) => v.status === 'error' || (v.status === 'available' && !!v.statusReason),
  });
  const ms = performance.now() - started;
  await io.deleteVolume(clone);
  return ms;
}
