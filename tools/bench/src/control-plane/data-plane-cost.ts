import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { BlockDecoder, BlockEncoder, EncodedBlock, objectNames, ProjectKeys } from '@island/blockstore';
import { createImage, createSnapshot, isAllZero, Qcow2Image } from '@island/qcow2';
import { writeBlockMarkers } from './block-markers';

const ROUNDS = 3;

/** CPU seconds per block, on one core of this process, of the data plane a worker runs for each block. */
export interface DataPlaneCost {
  snapshot: number;
  restore: number;
}

/**
 * The work a snapshot worker does per block apart from coordinating it, on blocks made like the benchmark's
 * (writeBlockMarkers): read it from the point in time, check it for zeros, name it (HMAC), seal it (compress,
 * encrypt) and MD5 the object it PUTs; and for a restore: open and verify the object and write the block into a
 * new image. Not included: HTTP to the object store and the event loop's share, which stay on the coordination
 * side of the subtraction (so it overstates what coordination costs). Medians of ROUNDS rounds.
 */
export async function measureDataPlaneCost(workDir: string, blocks: number, blockSize: number): Promise<DataPlaneCost> {
  const source = join(workDir, 'data-plane-source.qcow2');
  await createImage(source, { size: blocks * blockSize });
  await writeBlockMarkers(source, blocks, blockSize);
  const writable = await Qcow2Image.open(source, { writable: true });
  await createSnapshot(writable, 'pit');
  await writable.close();

  const keys = new ProjectKeys('bench', ProjectKeys.newMasterKey());
  const encoder = new BlockEncoder();
  const decoder = new BlockDecoder();
  const image = await Qcow2Image.open(source);
  const view = await image.snapshotView('pit');
  const encoded: EncodedBlock[] = [];
  const snapshot = await medianCpu(async () => {
    encoded.length = 0;
    for (let index = 0; index < blocks; index++) {
      const data = Buffer.allocUnsafe(blockSize);
      await image.readInto(view, index * blockSize, data);
      if (isAllZero(data)) throw new Error(`block ${index} reads as zeros: the markers are missing`);
      const block = encoder.encodeSealed(data, keys, objectNames.block, keys.blockName(data));
      createHash('md5').update(block.object).digest('hex');
      encoded.push(block);
    }
  });
  await image.close();

  let round = 0;
  const restore = await medianCpu(async () => {
    const target = join(workDir, `data-plane-restore-${round++}.qcow2`);
    await createImage(target, { size: blocks * blockSize });
    const restored = await Qcow2Image.open(target, { writable: true });
    for (const [index, block] of encoded.entries()) {
      await restored.write(index * blockSize, decoder.decode(block.object, block.hash, objectNames.block(block.hash), keys));
    }
    await restored.close();
  });
  return { snapshot: snapshot / blocks, restore: restore / blocks };
}

async function medianCpu(work: () => Promise<void>): Promise<number> {
  const values: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const before = process.cpuUsage();
    await work();
    const used = process.cpuUsage(before);
    values.push((used.user + used.system) / 1e6);
  }
  return values.sort((a, b) => a - b)[Math.floor(ROUNDS / 2)];
}
