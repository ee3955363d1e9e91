import { createHash } from 'node:crypto';
import { ManifestEntry } from '@island/blockstore';
import { countDifferingBlocks } from './block-map-differences';

const nameOf = (content: string) => createHash('sha256').update(content).digest();

/** A block map of `index → content` given in batches of `size` entries (an empty batch where `emptyAt` says). */
async function* batchesOf(map: [number, string][], size: number, emptyAt: number[] = []): AsyncGenerator<ManifestEntry[]> {
  for (let from = 0, k = 0; from < map.length; from += size, k++) {
    if (emptyAt.includes(k)) yield [];
    yield map.slice(from, from + size).map(([index, content]) => ({ index, hash: nameOf(content) }));
  }
}

describe('countDifferingBlocks', () => {
  const map: [number, string][] = Array.from({ length: 1000 }, (_, i) => [i * 2, `block ${i % 7}`]);

  it('finds no difference between a map and itself, however each side is cut into batches', async () => {
    expect(await countDifferingBlocks(batchesOf(map, 7, [0, 3]), batchesOf(map, 64))).toBe(0);
  });

  it('counts a block only one side has, on either side, and a block named differently', async () => {
    const ours = map.filter(([index]) => index !== 10); // a hole in ours
    const theirs: [number, string][] = [...map.slice(0, 300), [599, 'extra'], ...map.slice(300)]; // an entry only theirs has
    theirs[500] = [theirs[500][0], 'other content'];
    expect(await countDifferingBlocks(batchesOf(ours, 13), batchesOf(theirs, 50))).toBe(3);
  });

  it('counts every entry of a map against an empty one', async () => {
    expect(await countDifferingBlocks(batchesOf(map, 100), batchesOf([], 100))).toBe(map.length);
    expect(await countDifferingBlocks(batchesOf([], 100), batchesOf(map, 100))).toBe(map.length);
  });

  it("lets a failing read's error through", async () => {
    async function* failing(): AsyncGenerator<ManifestEntry[]> {
      yield* batchesOf(map.slice(0, 10), 10);
      throw new Error('the manifest ends early');
    }
    await expect(countDifferingBlocks(failing(), batchesOf(map, 10))).rejects.toThrow('the manifest ends early');
  });
});
