import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidImageError } from './qcow2-errors';

/**
 * The file operations an image performs. A FileHandle of node:fs/promises is one; a test passes a wrapper
 * that records every write and barrier (see OpenOptions.openFile).
 */
export interface FileIo {
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  write(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesWritten: number }>;
  truncate(length: number): Promise<void>;
  datasync(): Promise<void>;
  stat(): Promise<{ size: number }>;
  close(): Promise<void>;
}

/** 'r+direct': for writing past the page cache (O_DIRECT), where the file system allows it. */
export type OpenFileIo = (path: string, flags: 'r' | 'r+' | 'r+direct') => Promise<FileIo>;

export const openNodeFile: OpenFileIo = (path, flags) => open(path, flags === 'r+direct' ? constants.O_RDWR | constants.O_DIRECT : flags);

/**
 * What writes past the page cache need of file offsets and lengths, and of memory: any Linux block device's logical
 * block (512 or 4096 bytes) divides it.
 */
export const DIRECT_WRITE_ALIGNMENT = 4096;

/** Whether files in `dir` open for writes past the page cache (a file made and removed to find out). */
export async function directWritesAllowed(dir: string): Promise<boolean> {
  // unique: containers sharing the directory may each run as pid 1
  const probe = join(dir, `.direct-write-probe-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    await (await open(probe, constants.O_CREAT | constants.O_WRONLY | constants.O_DIRECT, 0o600)).close();
    return true;
  } catch (error) {
    if (refusesDirect(error)) return false;
    throw error;
  } finally {
    await rm(probe, { force: true });
  }
}

/** The error a file system answers an O_DIRECT open or write with when it has no such writes (or not for these bytes). */
export function refusesDirect(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'EINVAL' || code === 'EOPNOTSUPP';
}

/** Guest data written past the page cache: the image's file opened again with O_DIRECT. */
export interface DirectWrites {
  io: FileIo;
  /** Whether a buffer's memory starts at a multiple of DIRECT_WRITE_ALIGNMENT: JavaScript cannot see an address, its owner knows. */
  memoryAligned(buffer: Buffer): boolean;
}

/** Positional reads and writes on the image file; short reads of metadata are errors naming what was read. */
export class ImageFile {
  /** Whether anything was written since the last barrier. */
  private unsynced = false;

  /** Bytes of guest data written past the page cache so far. */
  directBytesWritten = 0;

  constructor(
    readonly io: FileIo,
    /** Current file size in bytes (kept in step with writes). */
    public size: number,
    private direct?: DirectWrites,
  ) {}

  /** Reads exactly `length` bytes of metadata at `offset`, or fails naming `what`. */
  async readExact(offset: number, length: number, what: string): Promise<Buffer> {
    if (offset + length > this.size) {
      throw new InvalidImageError(what, offset, `(${length} bytes) lies beyond the end of the file (${this.size} bytes)`);
    }
    const buf = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.io.read(buf, done, length - done, offset + done);
      if (bytesRead === 0) throw new InvalidImageError(what, offset, 'could not be read completely');
      done += bytesRead;
    }
    return buf;
  }

  /** Reads guest data; bytes beyond the end of the file read as zeros (a preallocated-but-unwritten tail). */
  async readData(offset: number, target: Buffer, targetOffset = 0, length = target.length - targetOffset): Promise<void> {
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.io.read(target, targetOffset + done, length - done, offset + done);
      if (bytesRead === 0) {
        target.fill(0, targetOffset + done, targetOffset + length);
        return;
      }
      done += bytesRead;
    }
  }

  async write(offset: number, data: Buffer): Promise<void> {
    await this.writeWith(this.io, offset, data);
  }

  /**
   * Writes guest data: past the page cache when the image was opened so and offset, length and memory are aligned
   * (whole clusters of 4 KiB or more, in memory its owner aligned), else as `write`. A restore then neither copies
   * each byte into the page cache nor evicts the host's cached data for an image no one reads yet. A file system
   * that refuses such a write (EINVAL) gets every later one through the page cache.
   */
  async writeData(offset: number, data: Buffer): Promise<void> {
    const direct = this.direct;
    if (direct && data.length > 0 && offset % DIRECT_WRITE_ALIGNMENT === 0 && data.length % DIRECT_WRITE_ALIGNMENT === 0 && direct.memoryAligned(data)) {
      try {
        await this.writeWith(direct.io, offset, data);
        this.directBytesWritten += data.length;
        return;
      } catch (error) {
        if (!refusesDirect(error)) throw error;
        this.direct = undefined;
      }
    }
    await this.write(offset, data);
  }

  private async writeWith(io: FileIo, offset: number, data: Buffer): Promise<void> {
    this.unsynced = true;
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await io.write(data, done, data.length - done, offset + done);
      done += bytesWritten;
    }
    if (offset + data.length > this.size) this.size = offset + data.length;
  }

  /** Closes the file (and its handle for writes past the page cache). */
  async close(): Promise<void> {
    try {
      await this.direct?.io.close();
    } finally {
      await this.io.close();
    }
  }

  async truncate(size: number): Promise<void> {
    this.unsynced = true;
    await this.io.truncate(size);
    this.size = size;
  }

  /**
   * A durability barrier (fdatasync): every write before it is on disk before any write after it. Free when
   * nothing was written since the last one, so callers place one wherever the order matters.
   */
  async barrier(): Promise<void> {
    if (!this.unsynced) return;
    // fdatasync is the file's, whichever handle wrote: it also flushes the device's cache under writes past the page cache
    await this.io.datasync();
    this.unsynced = false;
  }
}
