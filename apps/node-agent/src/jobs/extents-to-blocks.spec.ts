import { extentsToBlockRuns } from './extents-to-blocks';

describe('extentsToBlockRuns', () => {
  it('covers every block an extent touches and merges neighbours and overlaps', () => {
    const mib = 1 << 20;
    const runs = extentsToBlockRuns(
      [
        { offset: 0, length: 65536, kind: 'data' },
        { offset: mib - 65536, length: 131072, kind: 'zero' },
        { offset: 5 * mib, length: 65536, kind: 'data' },
        { offset: 5 * mib + 131072, length: 65536, kind: 'data' },
        { offset: 7 * mib, length: 3 * mib, kind: 'data' },
      ],
      mib,
    );
    expect(runs).toEqual([
      { start: 0, count: 2 },
      { start: 5, count: 1 },
      { start: 7, count: 3 },
    ]);
  });
});
