import { randomBytes } from 'node:crypto';
import { openForWriting } from '@island/qcow2';
import { guestIo, IslandStack, startIsland } from '@island/stack';
import { Benchmark, BenchmarkRow } from '../benchmark';
import { timedSnapshot } from '../stack-timing';

const KIB = 1024;
const MIB = 1 << 20;
const VOLUME = 512 * MIB;
const SCATTERED_WRITES = 64;
const SIZES = [256 * KIB, MIB, 4 * MIB];

interface Measured {
  blockSize: number;
  fullMiBs: number;
  restoreMiBs: number;
  scatteredUploaded: number;
  scatteredMs: number;
}

/**
 * Chooses the default block size by measurement: for 256 KiB, 1 MiB and 4 MiB blocks, the throughput of a
 * full snapshot and of a restore (fewer, larger objects move faster), against the bytes an incremental
 * snapshot uploads after small scattered writes (larger blocks upload more around each write).
 */
export const blockSize: Benchmark = {
  name: 'block-size',
  title: 'Choosing the block size: throughput vs bytes uploaded for scattered writes',
  async run(ctx) {
    const results: Measured[] = [];
    for (const size of SIZES) {
      const island = await startIsland({ workers: 2, env: { ISLAND_BLOCK_SIZE: String(size) } });
      try {
        results.push(await measure(island, size));
        ctx.log(JSON.stringify(results[results.length - 1]));
      } finally {
        await island.stop();
      }
    }
    const chosen = results.find((r) => r.blockSize === MIB)!;
    const small = results.find((r) => r.blockSize === 256 * KIB)!;
    const large = results.find((r) => r.blockSize === 4 * MIB)!;
    const rows: BenchmarkRow[] = results.map((r) => ({
      metric: `${r.blockSize / KIB} KiB blocks: full snapshot / restore of ${VOLUME / MIB} MiB; ${SCATTERED_WRITES} scattered 4 KiB writes`,
      island: `${r.fullMiBs.toFixed(0)} / ${r.restoreMiBs.toFixed(0)} MiB/s`,
      baseline: `uploads ${(r.scatteredUploaded / MIB).toFixed(1)} MiB in ${(r.scatteredMs / 1000).toFixed(2)} s`,
      ratio: r.fullMiBs / chosen.fullMiBs,
      goal: 'informs the default',
      pass: true,
    }));
    return {
      rows,
      notes: [
        `Ratio: full-snapshot throughput relative to 1 MiB blocks. Volume of ${VOLUME / MIB} MiB random data; then ${SCATTERED_WRITES} 4 KiB writes at random offsets and an incremental snapshot.`,
        `Default 1 MiB: 256 KiB blocks move data at ${((small.fullMiBs / chosen.fullMiBs) * 100).toFixed(0)}% of the 1 MiB throughput (four times the objects and catalog rows) for ${((small.scatteredUploaded / chosen.scatteredUploaded) * 100).toFixed(0)}% of its scattered-write upload; 4 MiB blocks gain ${((large.fullMiBs / chosen.fullMiBs - 1) * 100).toFixed(0)}% throughput but upload ${(large.scatteredUploaded / chosen.scatteredUploaded).toFixed(1)}× as much after scattered writes, and a fourth as many blocks can be shared between volumes.`,
      ],
    };
  },
};

async function measure(island: IslandStack, size: number): Promise<Measured> {
  const io = guestIo(island);
  const volumeId = await io.createVolume(VOLUME);
  const path = await io.attach(volumeId);
  const image = await openForWriting(path);
  for (let at = 0; at < VOLUME; at += 64 * MIB) await image.write(at, randomBytes(64 * MIB));
  await image.close();
  const full = await timedSnapshot(island, volumeId);

  const clone = await io.createVolume(VOLUME, { snapshotId: full.id });
  const restoreStarted = performance.now();
  await io.attach(clone);
  const restoreMs = performance.now() - restoreStarted;

  const scattered = await openForWriting(path);
  for (let i = 0; i < SCATTERED_WRITES; i++) await scattered.write(Math.floor(Math.random() * (VOLUME / (4 * KIB))) * 4 * KIB, randomBytes(4 * KIB));
  await scattered.close();
  const incremental = await timedSnapshot(island, volumeId);
  return {
    blockSize: size,
    fullMiBs: VOLUME / MIB / (full.ms / 1000),
    restoreMiBs: VOLUME / MIB / (restoreMs / 1000),
    scatteredUploaded: Number(incremental.snap.bytesUploaded),
    scatteredMs: incremental.ms,
  };
}
