import { open } from 'node:fs/promises';
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

export type OpenFileIo = (path: string, flags: 'r' | 'r+') => Promise<FileIo>;

export const openNodeFile: OpenFileIo = (path, flags) => open(path, flags);

/** Positional reads and writes on the image file; short reads of metadata are errors naming what was read. */
export class ImageFile {
  /** Whether anything was written since the last barrier. */
  private unsynced = false;

  constructor(
    readonly io: FileIo,
    /** Current file size in bytes (kept in step with writes). */
    public size: number,
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
    this.unsynced = true;
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await this.io.write(data, done, data.length - done, offset + done);
      done += bytesWritten;
    }
    if (offset + data.length > this.size) this.size = offset + data.length;
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
    await this.io.datasync();
    this.unsynced = false;
  }
}
