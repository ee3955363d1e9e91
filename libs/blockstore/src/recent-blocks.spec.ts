import { RecentBlocks } from './recent-blocks';

const name = (n: number) => Buffer.alloc(32, n);

describe('the blocks a restore fetched last', () => {
  it('fetches a block repeated nearby once, even while its first fetch is in flight', async () => {
    const recent = new RecentBlocks(4);
    let fetches = 0;
    const fetch = () => {
      fetches++;
      return new Promise<Buffer>((resolve) => setTimeout(() => resolve(Buffer.from('data')), 10));
    };
    const all = await Promise.all([recent.get(name(1), fetch), recent.get(name(1), fetch), recent.get(name(2), fetch), recent.get(name(1), fetch)]);
    expect(all.map(String)).toEqual(['data', 'data', 'data', 'data']);
    expect(fetches).toBe(2);
  });

  it('remembers only the last few distinct blocks: one repeated far apart is fetched again', async () => {
    const recent = new RecentBlocks(2);
    let fetches = 0;
    const fetch = async () => {
      fetches++;
      return Buffer.alloc(1);
    };
    for (const n of [1, 2, 1, 3, 1, 4, 5, 1]) await recent.get(name(n), fetch);
    // 1 stays recent while used every other block; after 4 and 5 it is forgotten
    expect(fetches).toBe(6);
  });

  it('keeps no failed fetch: the next ask fetches again', async () => {
    const recent = new RecentBlocks(4);
    await expect(recent.get(name(1), () => Promise.reject(new Error('503')))).rejects.toThrow('503');
    expect(String(await recent.get(name(1), async () => Buffer.from('ok')))).toBe('ok');
  });

  it('tells what it lets go of, after every caller that received the block, and lets go of all on clear', async () => {
    const forgotten: string[] = [];
    const recent = new RecentBlocks(1, (block) => forgotten.push(`forget ${String(block)}`));
    const got: Promise<void>[] = [];
    const ask = (n: number) => got.push(recent.get(name(n), async () => Buffer.from(`b${n}`)).then((block) => void forgotten.push(`got ${String(block)}`)));
    ask(1);
    ask(2); // pushes 1 out while its fetch is in flight
    await Promise.all(got);
    expect(forgotten).toEqual(['got b1', 'forget b1', 'got b2']);
    recent.clear();
    await new Promise((resolve) => setImmediate(resolve));
    expect(forgotten).toEqual(['got b1', 'forget b1', 'got b2', 'forget b2']);
  });

  it('keeps blocks of several sizes up to a total weight, pushing out the least recently used, never the one just asked for', async () => {
    const forgotten: number[] = [];
    const recent = new RecentBlocks(10, (block) => forgotten.push(block.length));
    const ask = (n: number, length: number) => recent.get(name(n), async () => Buffer.alloc(length), length);
    await ask(1, 4);
    await ask(2, 4);
    expect(recent.weight).toBe(8);
    await ask(1, 4); // 1 is now the most recent
    await ask(3, 4); // 12 > 10: 2 goes, 1 stays
    await new Promise((resolve) => setImmediate(resolve));
    expect(forgotten).toEqual([4]);
    expect(recent.weight).toBe(8);
    expect((await ask(4, 16)).length).toBe(16); // heavier than the whole capacity: every other block goes, it is still returned
    await new Promise((resolve) => setImmediate(resolve));
    expect(forgotten).toEqual([4, 4, 4]);
    expect(recent.weight).toBe(16);
  });

  it('takes back the weight of a failed fetch', async () => {
    const recent = new RecentBlocks(10);
    await expect(recent.get('x', () => Promise.reject(new Error('503')), 6)).rejects.toThrow('503');
    expect(recent.weight).toBe(0);
  });
});
