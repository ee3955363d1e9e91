import { randomBytes } from 'node:crypto';
import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { qemuCheck, qemuRaw, scratchDir } from '../test/qemu-tools';
import { createImage, directWritesAllowed, FileIo, OpenFileIo, Qcow2Image } from './index';

const MIB = 1024 * 1024;

/** node's WebAssembly.Memory (this library's TypeScript types leave WebAssembly out). */
const WasmMemory = (globalThis as unknown as { WebAssembly: { Memory: new (pages: { initial: number }) => { buffer: ArrayBuffer } } }).WebAssembly.Memory;

/**
 * Page-aligned memory without an addon: V8 maps a WebAssembly memory on its own pages. The images' owners (the
 * restore) use memory their addon aligned; here the predicate knows which memory it handed out.
 */
function alignedMemory(bytes: number): { take(length: number, at?: number): Buffer; aligned(buffer: Buffer): boolean } {
  const memory = new WasmMemory({ initial: Math.ceil(bytes / 65536) });
  return {
    take: (length, at = 0) => Buffer.from(memory.buffer, at, length),
    aligned: (buffer) => buffer.buffer === memory.buffer && buffer.byteOffset % 4096 === 0,
  };
}

/** The real file, with the handle opened for writes past the page cache replaced by `direct` (given the file's). */
function withDirectHandle(direct: (real: () => Promise<FileIo>) => Promise<FileIo>): OpenFileIo {
  return (path, flags) => (flags === 'r+direct' ? direct(() => open(path, 'r+')) : open(path, flags));
}

function random(buffer: Buffer): Buffer {
  randomBytes(buffer.length).copy(buffer);
  return buffer;
}

function failingWrites(real: FileIo, code: string, counter: { attempts: number }): FileIo {
  return {
    read: (...args) => real.read(...args),
    write: () => {
      counter.attempts++;
      return Promise.reject(Object.assign(new Error(`${code}: the file system refuses this write`), { code }));
    },
    truncate: (length) => real.truncate(length),
    datasync: () => real.datasync(),
    stat: () => real.stat(),
    close: () => real.close(),
  };
}

describe('guest data written past the page cache (O_DIRECT)', () => {
  const { dir, cleanup } = scratchDir('direct');
  afterAll(cleanup);

  it('writes whole clusters from aligned memory past the page cache, everything else through it, and both read back as written by island and qemu-img', async () => {
    const path = join(dir, 'mixed.qcow2');
    await createImage(path, { size: 8 * MIB });
    const memory = alignedMemory(2 * MIB);
    const model = Buffer.alloc(8 * MIB);
    const image = await Qcow2Image.open(path, { writable: true, directDataWrites: { memoryAligned: memory.aligned } });
    const writes: [number, Buffer][] = [
      [1 * MIB, random(memory.take(MIB))], // whole clusters, aligned memory: direct
      [3 * MIB, Buffer.from(randomBytes(MIB))], // whole clusters, memory not known to be aligned: page cache
      [5 * MIB + 100, randomBytes(1000)], // part of a cluster: page cache
      [6 * MIB + 4096, random(memory.take(8192, MIB))], // inside a new cluster: written whole from new memory (copy on write)
    ];
    for (const [offset, data] of writes) {
      await image.write(offset, data);
      data.copy(model, offset);
    }
    // the cluster is now the image's own: the same aligned bytes written again in place go past the page cache
    await image.write(6 * MIB + 4096, writes[3][1]);
    const direct = image.directBytesWritten;
    const readBack = await image.read(0, 8 * MIB);
    await image.close();

    expect(direct).toBe((await directWritesAllowed(dir)) ? MIB + 8192 : 0);
    expect(readBack.equals(model)).toBe(true);
    expect(qemuRaw(dir, path).equals(model)).toBe(true);
    expect(qemuCheck(path)).toEqual({ errors: 0, leaks: 0, corruptions: 0 });
  });

  it('writes through the page cache from the first write a file system refuses (EINVAL) on, nothing lost', async () => {
    const path = join(dir, 'refused-write.qcow2');
    await createImage(path, { size: 4 * MIB });
    const memory = alignedMemory(2 * MIB);
    const counter = { attempts: 0 };
    const image = await Qcow2Image.open(path, {
      writable: true,
      directDataWrites: { memoryAligned: memory.aligned },
      openFile: withDirectHandle(async (real) => failingWrites(await real(), 'EINVAL', counter)),
    });
    const first = random(memory.take(MIB));
    const model = Buffer.alloc(4 * MIB);
    await image.write(0, first);
    first.copy(model, 0);
    await image.write(2 * MIB, first);
    first.copy(model, 2 * MIB);
    expect(image.directBytesWritten).toBe(0);
    await image.close();

    expect(counter.attempts).toBe(1);
    expect(qemuRaw(dir, path).equals(model)).toBe(true);
    expect(qemuCheck(path)).toEqual({ errors: 0, leaks: 0, corruptions: 0 });
  });

  it('fails a write whose direct write fails otherwise (EIO) instead of writing it again through the page cache', async () => {
    const path = join(dir, 'io-error.qcow2');
    await createImage(path, { size: 4 * MIB });
    const memory = alignedMemory(MIB);
    const counter = { attempts: 0 };
    const image = await Qcow2Image.open(path, {
      writable: true,
      directDataWrites: { memoryAligned: memory.aligned },
      openFile: withDirectHandle(async (real) => failingWrites(await real(), 'EIO', counter)),
    });
    await expect(image.write(0, random(memory.take(MIB)))).rejects.toMatchObject({ code: 'EIO' });
    expect(counter.attempts).toBe(1);
    await image.close().catch(() => undefined);
  });

  it('opens and writes through the page cache where the file system refuses O_DIRECT at open', async () => {
    const path = join(dir, 'refused-open.qcow2');
    await createImage(path, { size: 4 * MIB });
    const memory = alignedMemory(MIB);
    const image = await Qcow2Image.open(path, {
      writable: true,
      directDataWrites: { memoryAligned: memory.aligned },
      openFile: withDirectHandle(() => Promise.reject(Object.assign(new Error('EINVAL: invalid argument, open'), { code: 'EINVAL' }))),
    });
    const data = random(memory.take(MIB));
    await image.write(MIB, data);
    expect(image.directBytesWritten).toBe(0);
    await image.close();
    expect(
      qemuRaw(dir, path)
        .subarray(MIB, 2 * MIB)
        .equals(data),
    ).toBe(true);
  });

  it('leaves a read-only image, and one opened without the option, to the page cache', async () => {
    const path = join(dir, 'plain.qcow2');
    await createImage(path, { size: 4 * MIB });
    const opened: string[] = [];
    const recordFlags: OpenFileIo = (p, flags) => {
      opened.push(flags);
      return open(p, flags === 'r+direct' ? 'r+' : flags);
    };
    const memory = alignedMemory(MIB);
    await (await Qcow2Image.open(path, { openFile: recordFlags, directDataWrites: { memoryAligned: memory.aligned } })).close();
    const writable = await Qcow2Image.open(path, { writable: true, openFile: recordFlags });
    await writable.write(0, random(memory.take(MIB)));
    expect(writable.directBytesWritten).toBe(0);
    await writable.close();
    expect(opened).toEqual(['r', 'r+']);
  });

  it('finds out whether a directory takes O_DIRECT without leaving its probe behind, and names a directory that is not there', async () => {
    const before = await readdir(dir);
    await expect(directWritesAllowed(dir)).resolves.toBe(true); // this machine's disk (ext4) and tmpfs (Linux ≥ 6.6) both do
    expect(await readdir(dir)).toEqual(before);
    await expect(directWritesAllowed(join(dir, 'missing'))).rejects.toMatchObject({ code: 'ENOENT', message: expect.stringContaining(join(dir, 'missing')) });
  });
});
