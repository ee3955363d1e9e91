import { Random } from './random';

describe('the seeded random stream', () => {
  it('makes the same choices for the same seed and other choices for another', () => {
    const draw = (seed: number) => {
      const r = new Random(seed);
      return [r.int(0, 1000), r.pick(['a', 'b', 'c']), r.weighted({ x: 1, y: 5 }), r.bytes(7).toString('hex')];
    };
    expect(draw(42)).toEqual(draw(42));
    expect(draw(42)).not.toEqual(draw(43));
  });

  it('keeps numbers in their ranges and follows the weights', () => {
    const r = new Random(1);
    const counts = { rare: 0, common: 0 };
    for (let i = 0; i < 10_000; i++) {
      const n = r.int(3, 5);
      expect(n >= 3 && n <= 5).toBe(true);
      counts[r.weighted({ rare: 1, common: 9 })] += 1;
    }
    expect(counts.common / 10_000).toBeGreaterThan(0.85);
    expect(counts.common / 10_000).toBeLessThan(0.95);
  });
});
