import { MAX_PART_BLOCKS } from '@island/contracts';
import { splitIntoParts } from './snapshot-parts';

const MIB = 1 << 20;
const range = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);
const sizesOf = (parts: number[][]) => parts.map((p) => p.length);

describe('splitIntoParts', () => {
  it('keeps every changed block exactly once, in order', () => {
    for (const n of [1, 7, 8, 33, 82, 64, 65, 1000, 5000, 20_000]) {
      expect(splitIntoParts(range(n, 10), MIB).flat()).toEqual(range(n, 10));
    }
  });

  it('cuts a large change into parts of at most 256 MiB that differ in size by one block at most', () => {
    const parts = splitIntoParts(range(8192), MIB);
    expect(parts).toHaveLength(32);
    expect(Math.max(...sizesOf(parts))).toBeLessThanOrEqual(256);
    expect(Math.max(...sizesOf(parts)) - Math.min(...sizesOf(parts))).toBeLessThanOrEqual(1);
  });

  it('cuts a middling change into up to four parts for workers to share', () => {
    expect(sizesOf(splitIntoParts(range(1000), MIB))).toEqual([250, 250, 250, 250]);
    expect(sizesOf(splitIntoParts(range(512), MIB))).toEqual([128, 128, 128, 128]);
    expect(sizesOf(splitIntoParts(range(200), MIB))).toEqual([50, 50, 50, 50]);
  });

  it('splits 82 blocks into two parts of 41, not 64 and 18', () => {
    expect(sizesOf(splitIntoParts(range(82), MIB))).toEqual([41, 41]);
  });

  it('keeps a change of up to 64 MiB in one part', () => {
    expect(splitIntoParts(range(64), MIB)).toEqual([range(64)]);
    expect(splitIntoParts([42], MIB)).toEqual([[42]]);
  });

  it('sizes parts by bytes, so larger blocks make parts of fewer blocks', () => {
    const parts = splitIntoParts(range(1000), 4 * MIB);
    expect(Math.max(...sizesOf(parts))).toBeLessThanOrEqual(64);
  });

  it('never makes a part of more blocks than a part job may carry, however small the blocks', () => {
    const parts = splitIntoParts(range(100_000), 4096);
    expect(Math.max(...sizesOf(parts))).toBeLessThanOrEqual(MAX_PART_BLOCKS);
    expect(parts.flat()).toHaveLength(100_000);
  });
});
