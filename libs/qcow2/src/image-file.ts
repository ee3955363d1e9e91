import { FileHandle } from 'node:fs/promises';
import { InvalidImageError } from './qcow2-errors';

/** Positional reads and writes on the image file; short reads of metadata are errors naming what was read. */
export class ImageFile {
  constructor(
    readonly handle: FileHandle,
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
      const { bytesRead } = await this.handle.read(buf, done, length - done, offset + done);
      if (bytesRead === 0) throw new InvalidImageError(what, offset, 'could not be read completely');
      done += bytesRead;
    }
    return buf;
  }

  /** Reads guest data; bytes beyond the end of the file read as zeros (a preallocated-but-unwritten tail). */
  async readData(offset: number, target: Buffer, targetOffset = 0, length = target.length - targetOffset): Promise<void> {
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.handle.read(target, targetOffset + done, length - done, offset + done);
      if (bytesRead === 0) {
        target.fill(0, targetOffset + done, targetOffset + length);
        return;
      }
      done += bytesRead;
    }
  }

  async write(offset: number, data: Buffer): Promise<void> {
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await this.handle.write(data, done, data.length - done, offset + done);
      done += bytesWritten;
    }
    if (offset + data.length > this.size) this.size = offset + data.length;
  }

  async truncate(size: number): Promise<void> {
    await this.handle.truncate(size);
    this.size = size;
  }

  sync(): Promise<void> {
    return this.handle.datasync();
  }
}
