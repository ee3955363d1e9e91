import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { blockMemory, type SwiftBlockStore } from '@island/blockstore';
import { FillSource } from './fill-registry';
import { ServedBlocks } from './served-blocks';
import { SnapshotExport } from './snapshot-export';

const BLOCK = 4096;

/** A block store holding blocks named by one byte: block n's name is 32 bytes of n, its content BLOCK bytes of n. */
function storeOf(broken: number[] = []): SwiftBlockStore & { gets: number[] } {
  const gets: number[] = [];
  return {
    gets,
    async getBlock(name: Buffer) {
      gets.push(name[0]);
      if (broken.includes(name[0])) throw new Error(`block object ${name[0]} does not authenticate`);
      return Buffer.alloc(name[0] === 9 ? 100 : BLOCK, name[0]); // block 9 is a short last block
    },
  } as unknown as SwiftBlockStore & { gets: number[] };
}

describe('a snapshot served as a disk (SnapshotExport)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'snapshot-export-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** A snapshot of `snapshotBytes` whose block map is the file at `mapPath`, served as a disk of `volumeBytes`. */
  async function exportOfMap(mapPath: string, snapshotBytes: number, volumeBytes: number, store: SwiftBlockStore, served = new ServedBlocks(32 * BLOCK)) {
    const source: FillSource = {
      volumeId: '00000000-0000-0000-0000-000000000000',
      imagePath: '/nowhere',
      projectId: 'p',
      region: 'R',
      manifestObject: 'manifests/x/1',
      manifestSealed: true,
      blockSize: BLOCK,
      snapshotBytes,
      volumeBytes,
      attempts: 0,
    };
    return new SnapshotExport(source, await open(mapPath, 'r'), store, undefined, served, () => undefined);
  }

  /** Blocks 0..9 of a snapshot of 10 blocks; block 3 and 7 are holes; the volume is 12 blocks (grown since). */
  async function exportOf(store: SwiftBlockStore, served?: ServedBlocks) {
    const map = Buffer.alloc(10 * 32);
    for (const b of [0, 1, 2, 4, 5, 6, 8, 9]) map.fill(b, b * 32, b * 32 + 32);
    // block 0's name is all zeros, which is a hole: name it 10 instead
    map.fill(10, 0, 32);
    const path = join(dir, `${Math.random()}.map`);
    writeFileSync(path, map);
    return exportOfMap(path, 9 * BLOCK + 100, 12 * BLOCK, store, served);
  }

  it('answers a read spanning several blocks, holes and the end of the snapshot with the right bytes', async () => {
    const store = storeOf();
    const disk = await exportOf(store);
    const out = await disk.read(BLOCK / 2, 11 * BLOCK);
    const expected = Buffer.alloc(12 * BLOCK);
    for (const b of [1, 2, 4, 5, 6, 8]) expected.fill(b, b * BLOCK, (b + 1) * BLOCK);
    expected.fill(10, 0, BLOCK);
    expected.fill(9, 9 * BLOCK, 9 * BLOCK + 100);
    expect(out.equals(expected.subarray(BLOCK / 2, BLOCK / 2 + 11 * BLOCK))).toBe(true);
    expect(store.gets.sort((a, b) => a - b)).toEqual([1, 2, 4, 5, 6, 8, 9, 10]); // holes and bytes past the end: no GET
    await disk.close();
  });

  it('answers reads inside one block (a whole block, part of one, a hole, the short last block, past the end) with the right bytes', async () => {
    const disk = await exportOf(storeOf());
    expect((await disk.read(BLOCK, BLOCK)).equals(Buffer.alloc(BLOCK, 1))).toBe(true);
    expect((await disk.read(2 * BLOCK + 100, 200)).equals(Buffer.alloc(200, 2))).toBe(true);
    expect((await disk.read(3 * BLOCK, BLOCK)).equals(Buffer.alloc(BLOCK))).toBe(true);
    expect((await disk.read(9 * BLOCK, BLOCK)).equals(Buffer.concat([Buffer.alloc(100, 9), Buffer.alloc(BLOCK - 100)]))).toBe(true);
    expect((await disk.read(11 * BLOCK, BLOCK)).equals(Buffer.alloc(BLOCK))).toBe(true);
    await disk.close();
  });

  it('finds every block of a map longer than the part of it kept in memory, in any order', async () => {
    const blocks = 5000; // the map is read 1024 names at a time, 4 such pages kept
    const nameByte = (index: number) => (index % 250) + 1;
    const map = Buffer.alloc(blocks * 32);
    for (let i = 0; i < blocks; i++) map.fill(nameByte(i), i * 32, (i + 1) * 32);
    const path = join(dir, `${Math.random()}.map`);
    writeFileSync(path, map);
    const disk = await exportOfMap(path, blocks * BLOCK, blocks * BLOCK, storeOf());
    for (const index of [0, 1023, 1024, 4999, 2048, 17, 3071, 3072, 1500, 4096, 0, 2500]) {
      expect((await disk.read(index * BLOCK, BLOCK)).equals(Buffer.alloc(BLOCK, nameByte(index)))).toBe(true);
    }
    await disk.close();
  });

  it('fetches a block once for reads of its parts in a row', async () => {
    const store = storeOf();
    const disk = await exportOf(store);
    for (let at = 2 * BLOCK; at < 3 * BLOCK; at += 512) await disk.read(at, 512);
    expect(store.gets.filter((b) => b === 2)).toEqual([2]);
    await disk.close();
  });

  it('fetches the next blocks while a sequential reader copies one, and nothing ahead of random reads', async () => {
    const store = storeOf();
    const disk = await exportOf(store);
    await disk.read(4 * BLOCK, BLOCK); // a first read: nothing to continue
    expect(store.gets).toEqual([4]);
    await disk.read(8 * BLOCK, 512); // not after the last one: random
    expect(store.gets).toEqual([4, 8]);
    await disk.read(9 * BLOCK, BLOCK); // continues: the blocks after it would be fetched, but the snapshot ends
    expect(store.gets).toEqual([4, 8, 9]);
    await disk.read(1 * BLOCK, BLOCK);
    await disk.read(2 * BLOCK, BLOCK); // continues from 1: 3 … 10 ahead (holes and kept blocks cost no GET)
    for (let waited = 0; store.gets.length < 7 && waited < 2_000; waited += 10) await new Promise((r) => setTimeout(r, 10));
    expect(store.gets.slice(0, 4)).toEqual([4, 8, 9, 1]);
    expect(store.gets.slice(4).sort()).toEqual([2, 5, 6]); // block 2 and those fetched ahead, in any order
    await disk.close();
  });

  it('fails a read of a block that cannot be fetched, naming the block, and remembers why', async () => {
    const disk = await exportOf(storeOf([5]));
    await expect(disk.read(4 * BLOCK, 2 * BLOCK)).rejects.toThrow('block 5 of manifests/x/1 could not be read: block object 5 does not authenticate');
    expect(disk.lastError).toMatch(/block 5/);
    await disk.close();
  });

  it('keeps the blocks of all its exports within one bound, and never serves one export the block another fetched', async () => {
    const served = new ServedBlocks(3 * BLOCK);
    const storeA = storeOf();
    const storeB = storeOf();
    const a = await exportOf(storeA, served);
    const b = await exportOf(storeB, served);
    await a.read(BLOCK, BLOCK);
    await a.read(4 * BLOCK, BLOCK); // random reads: nothing fetched ahead
    await b.read(BLOCK, BLOCK); // the same name in another export: fetched by that export, through its own store and keys
    expect(storeB.gets).toEqual([1]);
    expect(served.keptBytes).toBe(3 * BLOCK);
    await b.read(6 * BLOCK, BLOCK); // a fourth block: a's block 1, the least recent, goes
    expect(served.keptBytes).toBe(3 * BLOCK);
    await b.read(BLOCK, BLOCK);
    expect(storeB.gets).toEqual([1, 6]); // still kept
    await a.read(BLOCK, BLOCK);
    expect(storeA.gets).toEqual([1, 4, 1]); // pushed out, fetched again
    await a.close();
    await b.close();
  });

  it('holds a block memory reservation while a block is being fetched, and gives it back once fetched or failed', async () => {
    let release: () => void = () => undefined;
    const slow = {
      async getBlock(name: Buffer) {
        await new Promise<void>((resolve) => (release = resolve));
        if (name[0] === 5) throw new Error('503');
        return Buffer.alloc(BLOCK, name[0]);
      },
    } as unknown as SwiftBlockStore;
    const disk = await exportOf(slow);
    const before = blockMemory.reservedBytes;
    const read = disk.read(2 * BLOCK, BLOCK);
    for (let waited = 0; blockMemory.reservedBytes === before && waited < 1_000; waited += 5) await new Promise((r) => setTimeout(r, 5));
    expect(blockMemory.reservedBytes).toBe(before + BLOCK);
    release();
    expect((await read).equals(Buffer.alloc(BLOCK, 2))).toBe(true);
    expect(blockMemory.reservedBytes).toBe(before);
    const failed = disk.read(5 * BLOCK, BLOCK);
    for (let waited = 0; blockMemory.reservedBytes === before && waited < 1_000; waited += 5) await new Promise((r) => setTimeout(r, 5));
    release();
    await expect(failed).rejects.toThrow('503');
    expect(blockMemory.reservedBytes).toBe(before);
    await disk.close();
  });

  it('holds a block while a reply made of its bytes is being written, and lets go of blocks copied or failed', async () => {
    const served = new ServedBlocks(BLOCK); // keeps one block
    const disk = await exportOf(storeOf([5]), served);
    const reply = await disk.read(BLOCK, BLOCK); // a view of block 1
    expect(served.heldBlocks).toBe(1);
    const copied = await disk.read(6 * BLOCK, 2 * BLOCK); // blocks 6 and 7 (a hole), copied: 1 is pushed out of the cache, not let go
    expect(copied.equals(Buffer.concat([Buffer.alloc(BLOCK, 6), Buffer.alloc(BLOCK)]))).toBe(true);
    expect(served.heldBlocks).toBe(2); // block 1 (the reply), block 6 (the cache)
    disk.readDone(reply);
    expect(served.heldBlocks).toBe(1);
    await expect(disk.read(4 * BLOCK, 2 * BLOCK)).rejects.toThrow(/block 5/); // block 4 fetched and let go, pushed out by 5, which failed
    expect(served.heldBlocks).toBe(0);
    await disk.close();
  });

  it('lets go of the blocks it fetched ahead once the served blocks push them out', async () => {
    const store = storeOf();
    const served = new ServedBlocks(4 * BLOCK); // one export: 2 blocks ahead
    const disk = await exportOf(store, served);
    disk.readDone(await disk.read(BLOCK, BLOCK));
    disk.readDone(await disk.read(2 * BLOCK, BLOCK)); // sequential: 3 (a hole) and 4 ahead
    for (let waited = 0; !store.gets.includes(4) && waited < 1_000; waited += 5) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 10));
    expect(store.gets).toEqual([1, 2, 4]);
    for (const at of [8, 0, 5, 9]) disk.readDone(await disk.read(at * BLOCK, BLOCK)); // random: 1, 2 and 4 pushed out
    expect(served.heldBlocks).toBe(4); // 8, 0, 5, 9: the cache's; none left held by a read or the read-ahead
    await disk.close();
  });

  it('fetches fewer blocks ahead as more exports share the served blocks', async () => {
    const store = storeOf();
    const served = new ServedBlocks(32 * BLOCK); // one export: 16 blocks' worth ahead, 8 at most
    const disk = await exportOf(store, served);
    expect(served.aheadBytesPerExport).toBe(16 * BLOCK);
    const others = await Promise.all([1, 2, 3, 4, 5, 6, 7].map(() => exportOf(storeOf(), served)));
    expect(served.aheadBytesPerExport).toBe(2 * BLOCK); // 8 exports: 2 blocks ahead each
    disk.readDone(await disk.read(0, BLOCK));
    disk.readDone(await disk.read(BLOCK, BLOCK)); // sequential: 2 and 3 (a hole) ahead
    for (let waited = 0; store.gets.length < 3 && waited < 1_000; waited += 5) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 20));
    expect(store.gets).toEqual([10, 1, 2]);
    for (const other of others) await other.close();
    await disk.close();
    await disk.close(); // closing twice counts once
    expect(served.aheadBytesPerExport).toBe(16 * BLOCK);
  });
});
