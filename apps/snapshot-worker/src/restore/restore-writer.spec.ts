import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkImage, createImage, ImageUsageError, Qcow2Image } from '@island/qcow2';
import { RestoreWriter } from './restore-writer';

const BLOCK = 256 * 1024;

describe('RestoreWriter', () => {
  let dir: string;
  let image: Qcow2Image;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'restore-writer-'));
    const path = join(dir, 'v.qcow2');
    await createImage(path, { size: 40 * BLOCK + 1000 }); // a last block shorter than the others
    image = await Qcow2Image.open(path, { writable: true });
  });

  afterEach(async () => {
    await image.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes blocks handed over in any order at their indexes, a repeated block at each of them, and leaves holes unallocated', async () => {
    const blocks = new Map<number, Buffer>();
    const shared = randomBytes(BLOCK);
    for (const index of [3, 1, 2, 9, 10, 11, 12, 0, 25]) blocks.set(index, randomBytes(BLOCK));
    const last = randomBytes(1000);
    const writer = new RestoreWriter(image, BLOCK, 4);
    let ordinal = 0;
    for (const [index, data] of blocks) await writer.add(ordinal++, [index], data);
    await writer.add(ordinal++, [30, 5], shared);
    await writer.add(ordinal++, [40], last);
    await writer.finish();

    blocks.set(30, shared).set(5, shared).set(40, last);
    for (let index = 0; index <= 40; index++) {
      const expected = blocks.get(index) ?? Buffer.alloc(index === 40 ? 1000 : BLOCK);
      expect((await image.read(index * BLOCK, expected.length)).equals(expected)).toBe(true);
    }
    expect(writer.entriesWritten).toBe(blocks.size);
    expect(writer.bytesWritten).toBe((blocks.size - 1) * BLOCK + 1000);
    const check = await checkImage(image);
    expect(check).toMatchObject({ errors: 0, leaks: 0 });
    // 12 of 41 blocks hold data: the holes took no space
    expect(check.imageEndOffset).toBeLessThan(13 * BLOCK);
  });

  it('holds a fetcher back while as many blocks as allowed wait to be written', async () => {
    const writer = new RestoreWriter(image, BLOCK, 2);
    let written = 0;
    const original = image.write.bind(image);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    image.write = async (offset: number, data: Buffer) => {
      await gate;
      written++;
      return original(offset, data);
    };
    await writer.add(0, [0], randomBytes(BLOCK)); // taken by the writer at once, which then waits at the gate
    await writer.add(1, [1], randomBytes(BLOCK));
    let third = false;
    const adding = writer.add(2, [2], randomBytes(BLOCK)).then(() => (third = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(third).toBe(false);
    release();
    await adding;
    await writer.finish();
    expect(written).toBe(3);
  });

  it('reports a write that fails to the fetchers and at the end, and writes nothing after it', async () => {
    const writer = new RestoreWriter(image, BLOCK, 2);
    await writer.add(0, [100], randomBytes(BLOCK)); // beyond the image
    await expect(writer.finish()).rejects.toThrow(ImageUsageError);
    await expect(writer.add(1, [1], randomBytes(BLOCK))).rejects.toThrow(ImageUsageError);
    expect((await image.read(BLOCK, BLOCK)).equals(Buffer.alloc(BLOCK))).toBe(true);
  });

  it('lets go of every entry it will never write once a write failed, the one that failed included', async () => {
    const done: Buffer[] = [];
    const writer = new RestoreWriter(image, BLOCK, 8, undefined, (data) => done.push(data));
    const blocks = [randomBytes(BLOCK), randomBytes(BLOCK), randomBytes(BLOCK)];
    await writer.add(0, [0], blocks[0]);
    await writer.add(1, [100], blocks[1]); // beyond the image: fails
    await writer.add(2, [2], blocks[2]);
    await expect(writer.finish()).rejects.toThrow(ImageUsageError);
    expect(new Set(done)).toEqual(new Set(blocks));
    expect(done).toHaveLength(3);
  });

  it('reports a block written only once all its indexes are, and offers checkpoints between batches with no write in flight', async () => {
    const events: string[] = [];
    let writing = 0;
    const original = image.write.bind(image);
    image.write = async (offset: number, data: Buffer) => {
      writing++;
      try {
        return await original(offset, data);
      } finally {
        writing--;
        events.push(`write ${offset / BLOCK}`);
      }
    };
    const writer = new RestoreWriter(image, BLOCK, 2, {
      blockWritten: (ordinal) => events.push(`block ${ordinal}`),
      checkpointIfDue: async () => {
        expect(writing).toBe(0);
        events.push('checkpoint');
      },
    });
    await writer.add(0, [4, 7, 9], randomBytes(BLOCK));
    await writer.add(1, [2], randomBytes(BLOCK));
    await writer.finish();

    const at = (event: string) => events.indexOf(event);
    for (const index of [4, 7, 9]) expect(at(`write ${index}`)).toBeLessThan(at('block 0'));
    expect(at('write 2')).toBeLessThan(at('block 1'));
    expect(events.filter((e) => e.startsWith('block'))).toHaveLength(2);
    expect(events[events.length - 1]).toBe('checkpoint');
    expect(writer.entriesWritten).toBe(4);
  });
});
