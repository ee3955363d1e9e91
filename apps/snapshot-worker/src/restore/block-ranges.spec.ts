import { BlockRanges } from './block-ranges';

describe('BlockRanges', () => {
  it('keeps blocks added in any order as the fewest ranges, and knows which it holds', () => {
    const ranges = BlockRanges.empty();
    for (const ordinal of [0, 1, 2, 7, 5, 3, 6, 4, 10, 12, 11, 2]) ranges.add(ordinal);
    expect(ranges.toJSON()).toEqual([
      [0, 8],
      [10, 13],
    ]);
    expect(ranges.count).toBe(11);
    expect([0, 7, 8, 9, 10, 12, 13].map((o) => ranges.has(o))).toEqual([true, true, false, false, true, true, false]);
  });

  it('reads back what it wrote', () => {
    const ranges = BlockRanges.empty();
    for (const ordinal of [3, 4, 9]) ranges.add(ordinal);
    const back = BlockRanges.fromJSON(JSON.parse(JSON.stringify(ranges)), 10);
    expect(back.toJSON()).toEqual(ranges.toJSON());
    expect(back.has(9)).toBe(true);
  });

  it.each([
    ['not a list', { 0: [0, 1] }, /not a list/],
    ['a range that is not a pair of integers', [[0, 1.5]], /not a pair of integers/],
    ['an empty range', [[3, 3]], /empty or outside/],
    ['a range beyond the last block', [[8, 11]], /outside \[0, 10\)/],
    ['a negative start', [[-1, 2]], /outside/],
    [
      'overlapping ranges',
      [
        [0, 4],
        [3, 6],
      ],
      /not after the one before it/,
    ],
    [
      'adjacent ranges (never written so)',
      [
        [0, 4],
        [4, 6],
      ],
      /not after the one before it/,
    ],
    [
      'unsorted ranges',
      [
        [5, 6],
        [0, 2],
      ],
      /not after the one before it/,
    ],
  ])('refuses %s', (_, value, message) => {
    expect(() => BlockRanges.fromJSON(value, 10)).toThrow(message);
  });
});
