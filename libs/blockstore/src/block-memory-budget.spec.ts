import { BlockMemoryBudget } from './block-memory-budget';

const settled = () => new Promise((resolve) => setImmediate(resolve));

describe('BlockMemoryBudget', () => {
  it('grants reservations at once while they fit and makes the next wait until enough is released', async () => {
    const budget = new BlockMemoryBudget(64);
    const a = await budget.reserve(32);
    const b = await budget.reserve(32);
    expect(budget.reservedBytes).toBe(64);
    let granted = false;
    const c = budget.reserve(16).then((r) => ((granted = true), r));
    await settled();
    expect(granted).toBe(false);
    a.release();
    await settled();
    expect(granted).toBe(true);
    expect(budget.reservedBytes).toBe(48);
    b.release();
    (await c).release();
    expect(budget.reservedBytes).toBe(0);
  });

  it('grants in the order asked for: a large reservation is not passed over by smaller ones that would fit', async () => {
    const budget = new BlockMemoryBudget(64);
    const held = await budget.reserve(48);
    const order: string[] = [];
    const large = budget.reserve(32).then((r) => (order.push('large'), r));
    const small = budget.reserve(8).then((r) => (order.push('small'), r));
    await settled();
    expect(order).toEqual([]); // 16 are free: the small one would fit, but the large one asked first
    held.release();
    await Promise.all([large, small]);
    expect(order).toEqual(['large', 'small']);
  });

  it('gives a reservation larger than the budget the whole budget once nothing else holds any', async () => {
    const budget = new BlockMemoryBudget(64);
    const held = await budget.reserve(1);
    const huge = budget.reserve(1000);
    await settled();
    expect(budget.waitingCount).toBe(1);
    held.release();
    const granted = await huge;
    expect(granted.bytes).toBe(64);
    expect(budget.reservedBytes).toBe(64);
  });

  it('counts a reservation released twice once', async () => {
    const budget = new BlockMemoryBudget(64);
    const a = await budget.reserve(32);
    const b = await budget.reserve(16);
    a.release();
    a.release();
    expect(budget.reservedBytes).toBe(16);
    b.release();
    expect(budget.reservedBytes).toBe(0);
  });
});
