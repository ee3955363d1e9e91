import { BLOCK_MEMORY_BYTES } from '@island/blockstore';
import { BATCH_BYTES, growingBatches } from './upload-batches';

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const MiB = 1024 * 1024;

describe('growingBatches', () => {
  it('starts with four blocks and grows fourfold up to 32 per batch', () => {
    expect(growingBatches(range(200), MiB).map((b) => b.length)).toEqual([4, 16, 32, 32, 32, 32, 32, 20]);
  });

  it('cuts a 64-block part into four batches', () => {
    expect(growingBatches(range(64), MiB).map((b) => b.length)).toEqual([4, 16, 32, 12]);
  });

  it('keeps every block exactly once, in order', () => {
    for (const size of [256 * 1024, MiB, 4 * MiB]) for (const n of [0, 1, 3, 4, 5, 27, 64]) expect(growingBatches(range(n), size).flat()).toEqual(range(n));
  });

  it('holds at most 32 MiB of blocks in a batch, so two batches in flight fit in the block memory budget at any block size', () => {
    expect(growingBatches(range(64), 4 * MiB).map((b) => b.length)).toEqual([4, 8, 8, 8, 8, 8, 8, 8, 4]);
    expect(growingBatches(range(64), 2 * MiB).map((b) => b.length)).toEqual([4, 16, 16, 16, 12]);
    expect(growingBatches(range(64), 256 * 1024).map((b) => b.length)).toEqual([4, 16, 32, 12]);
    for (const size of [256 * 1024, 512 * 1024, MiB, 2 * MiB, 4 * MiB]) {
      for (const batch of growingBatches(range(200), size)) expect(batch.length * size).toBeLessThanOrEqual(BATCH_BYTES);
    }
    expect(2 * BATCH_BYTES).toBeLessThanOrEqual(BLOCK_MEMORY_BYTES);
  });
});
