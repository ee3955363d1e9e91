import { growingBatches } from './upload-batches';

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('growingBatches', () => {
  it('starts with four blocks and grows fourfold up to 32 per batch', () => {
    expect(growingBatches(range(200)).map((b) => b.length)).toEqual([4, 16, 32, 32, 32, 32, 32, 20]);
  });

  it('cuts a 64-block part into four batches', () => {
    expect(growingBatches(range(64)).map((b) => b.length)).toEqual([4, 16, 32, 12]);
  });

  it('keeps every block exactly once, in order', () => {
    for (const n of [0, 1, 3, 4, 5, 27, 64]) expect(growingBatches(range(n)).flat()).toEqual(range(n));
  });
});
