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

  it('splits 82 blocks into two parts of 41, not 64 and 18', () => {
    expect(splitIntoParts(range(82), MIB).map((p) => p.length)).toEqual([41, 41]);
  });

  it('keeps a change of up to 64 MiB in one part', () => {
    expect(splitIntoParts(range(64), MIB)).toEqual([range(64)]);
    expect(splitIntoParts([42], MIB)).toEqual([[42]]);
  });

  it('sizes parts by bytes, so larger blocks make parts of fewer blocks', () => {
    const parts = splitIntoParts(range(100), 4 * MIB);
    expect(Math.max(...parts.map((p) => p.length))).toBeLessThanOrEqual(16);
  });
});
