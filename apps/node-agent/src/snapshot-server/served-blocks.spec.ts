import { blockBuffers } from '@island/blockstore';
import { ServedBlocks } from './served-blocks';

const BLOCK = 128 * 1024; // lent from the pool (smaller bodies are Node's own)

describe('the blocks a snapshot server keeps for its exports (ServedBlocks)', () => {
  it("gives a block's lent memory back only once the cache and every reader have let go of it", async () => {
    const served = new ServedBlocks(BLOCK); // keeps one block
    const fetch = (fill: number) => async () => blockBuffers.take(BLOCK).fill(fill);
    const first = await served.get('a', fetch(1), BLOCK);
    const memory = first.buffer;
    const second = await served.get('b', fetch(2), BLOCK); // 'a' is pushed out of the cache, still read
    await new Promise((resolve) => setImmediate(resolve));
    const meanwhile = blockBuffers.take(BLOCK);
    expect(meanwhile.buffer).not.toBe(memory); // not reused while read
    expect(first.every((b) => b === 1)).toBe(true);
    served.release(first);
    const after = blockBuffers.take(BLOCK);
    expect(after.buffer).toBe(memory); // given back by its last holder
    for (const body of [meanwhile, after]) blockBuffers.giveBack(body);
    served.release(second);
    expect(served.heldBlocks).toBe(1); // 'b', kept by the cache
  });

  it('holds a block asked for twice once per asker, and fetches it once', async () => {
    const served = new ServedBlocks(4 * BLOCK);
    let fetches = 0;
    const fetch = async () => {
      fetches++;
      return blockBuffers.take(BLOCK);
    };
    const [x, y] = await Promise.all([served.get('a', fetch, BLOCK), served.get('a', fetch, BLOCK)]);
    expect(x).toBe(y);
    expect(fetches).toBe(1);
    served.release(x);
    served.release(y);
    expect(served.heldBlocks).toBe(1);
  });
});
