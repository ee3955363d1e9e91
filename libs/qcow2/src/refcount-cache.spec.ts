import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { qemuCheck, qemuRaw, scratchDir } from '../test/qemu-tools';
import { createImage, createSnapshot, deleteSnapshot, Qcow2Image } from './index';

const CLUSTER = 512;
/** With 64-bit refcounts a 512-byte refcount block covers 64 clusters: 32 KiB of file. */
const REFCOUNT_BITS = 64;
const CACHE_BLOCKS = 2;

/** The refcount cache: bounded, and written back in the image's write order. */
describe('the refcount cache', () => {
  const { dir, cleanup } = scratchDir('refcount-cache');
  afterAll(cleanup);

  async function newImage(name: string, size: number): Promise<string> {
    const path = join(dir, name);
    await createImage(path, { size, clusterSize: CLUSTER, refcountBits: REFCOUNT_BITS });
    return path;
  }

  it('keeps no more refcount blocks in memory than it is given while a restore-like write fills an image many blocks long', async () => {
    const size = 4 << 20; // 8192 data clusters: over 128 refcount blocks
    const path = await newImage('sequential.qcow2', size);
    const image = await Qcow2Image.open(path, { writable: true, refcountCacheBlocks: CACHE_BLOCKS });
    const content = Buffer.alloc(size);
    let most = 0;
    for (let offset = 0; offset < size; offset += 64 << 10) {
      const chunk = Buffer.alloc(64 << 10, (offset >> 16) + 1);
      await image.write(offset, chunk);
      chunk.copy(content, offset);
      most = Math.max(most, image.refcounts.cachedBlocks);
    }
    await createSnapshot(image, 'restored');
    most = Math.max(most, image.refcounts.cachedBlocks);
    await image.close();

    expect(most).toBeLessThanOrEqual(CACHE_BLOCKS + 1); // an atomic change may hold a changed block it has not moved yet
    expect(qemuCheck(path)).toEqual({ errors: 0, leaks: 0, corruptions: 0 });
    expect(qemuRaw(dir, path).equals(content)).toBe(true);
    expect(qemuRaw(dir, path, 'restored').equals(content)).toBe(true);
  }, 120_000); // thousands of metadata writes with fsyncs: seconds alone, far more on a loaded CI machine

  it('reuses, once reopened, the clusters a dropped point in time freed across many refcount blocks before growing the file', async () => {
    const size = 256 << 10; // 512 data clusters: 8 refcount blocks
    const path = await newImage('reuse.qcow2', size);
    let image = await Qcow2Image.open(path, { writable: true, refcountCacheBlocks: CACHE_BLOCKS });
    await image.write(0, Buffer.alloc(size / 2, 0x11));
    await createSnapshot(image, 'old');
    await image.write(0, Buffer.alloc(size / 2, 0x22)); // copies of every cluster the point in time shares
    await deleteSnapshot(image, 'old'); // the first half's old clusters, low in the file, are free again
    await image.close();
    const grown = (await stat(path)).size;

    image = await Qcow2Image.open(path, { writable: true, refcountCacheBlocks: CACHE_BLOCKS });
    await image.write(size / 2, Buffer.alloc(size / 4, 0x33)); // the scan for free clusters starts at the first one
    await createSnapshot(image, 'new');
    await image.close();

    // 64 KiB of data and their tables went into freed clusters: only the refcount table, which an atomic change moves to
    // the end of the file, may have grown it
    expect((await stat(path)).size - grown).toBeLessThan(8 * CLUSTER);
    expect(qemuCheck(path)).toEqual({ errors: 0, leaks: 0, corruptions: 0 });
    const content = Buffer.concat([Buffer.alloc(size / 2, 0x22), Buffer.alloc(size / 4, 0x33), Buffer.alloc(size / 4)]);
    expect(qemuRaw(dir, path).equals(content)).toBe(true);
    expect(qemuRaw(dir, path, 'new').equals(content)).toBe(true);
  }, 120_000);

  it('leaves the refcount blocks the image on disk uses untouched during an atomic change, however few it keeps', async () => {
    const path = await newImage('atomic.qcow2', 1 << 20);
    const image = await Qcow2Image.open(path, { writable: true, refcountCacheBlocks: 1 });
    await image.write(0, Buffer.alloc(96 << 10, 0x5a)); // data across several refcount blocks
    await image.flush();
    const before = await readFile(path);
    const firstBlock = image.refcounts.blockOffsets[0];
    const clustersPerBlock = image.refcounts.entriesPerBlock;
    let during: Buffer | undefined;
    await image.atomically(async () => {
      await image.refcounts.change(1, 1); // the first block changes in memory…
      for (let c = clustersPerBlock; c < image.refcounts.fileClusters; c += clustersPerBlock) await image.refcounts.get(c); // …and is pushed out
      during = await readFile(path);
      await image.refcounts.change(1, -1);
    });
    await image.close();

    expect(during?.subarray(firstBlock, firstBlock + CLUSTER).equals(before.subarray(firstBlock, firstBlock + CLUSTER))).toBe(true);
    expect(qemuCheck(path)).toEqual({ errors: 0, leaks: 0, corruptions: 0 });
  });

  it('skips a refcount of 256 beside a refcount of 1 when it looks for a free cluster: their bytes 01 00 00 01 hold no zero entry', async () => {
    const path = join(dir, 'refcount-256.qcow2');
    await createImage(path, { size: 1 << 20, clusterSize: CLUSTER }); // 16-bit refcounts, the default
    const image = await Qcow2Image.open(path, { writable: true });
    const end = image.refcounts.fileClusters;
    await image.refcounts.set(end, 256);
    await image.refcounts.set(end + 1, 1);
    await image.refcounts.set(end + 3, 1); // end + 2 stays free, inside the file

    expect(await image.refcounts.allocate(1)).toBe((end + 2) * CLUSTER);
    expect(await image.refcounts.allocate(1)).toBe((end + 4) * CLUSTER);
    await image.close();
  });
});
