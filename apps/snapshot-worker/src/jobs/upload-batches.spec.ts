import { growingBatches } from './upload-batches';

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('growingBatches', () => {
  it('starts with four blocks and doubles up to 32 per batch', () => {
    expect(growingBatches(range(200)).map((b) => b.length)).toEqual([4, 8, 16, 32, 32, 32, 32, 32, 12]);
  });

  it('keeps every block exactly once, in order', () => {
    for (const n of [0, 1, 3, 4, 5, 27, 64]) expect(growingBatches(range(n)).flat()).toEqual(range(n));
  });
});
