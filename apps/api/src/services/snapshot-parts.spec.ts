import { splitIntoParts } from './snapshot-parts';

const MIB = 1 << 20;
const range = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);

describe('splitIntoParts', () => {
  it('keeps every changed block exactly once, in order', () => {
    for (const n of [1, 7, 8, 33, 82, 64, 65, 1000, 5000]) {
      expect(splitIntoParts(range(n, 10), MIB).flat()).toEqual(range(n, 10));
    }
  });

  it('cuts a large change into parts of at most 64 MiB that differ in size by one block at most', () => {
    const parts = splitIntoParts(range(1000), MIB);
    expect(parts).toHaveLength(16);
    const sizes = parts.map((p) => p.length);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(64);
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
  });

  it('shares a small change between four parts rather than leaving most of it to one', () => {
    expect(splitIntoParts(range(82), MIB).map((p) => p.length)).toEqual([20, 21, 20, 21]);
    expect(splitIntoParts(range(16), MIB).map((p) => p.length)).toEqual([8, 8]);
  });

  it('does not split a handful of blocks', () => {
    expect(splitIntoParts(range(7), MIB)).toEqual([range(7)]);
    expect(splitIntoParts([42], MIB)).toEqual([[42]]);
  });

  it('sizes parts by bytes, so larger blocks make parts of fewer blocks', () => {
    const parts = splitIntoParts(range(100), 4 * MIB);
    expect(Math.max(...parts.map((p) => p.length))).toBeLessThanOrEqual(16);
  });
});
