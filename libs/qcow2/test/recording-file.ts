import { FileHandle, open, readFile } from 'node:fs/promises';
import { FileIo } from '../src/image-file';
import { OpenOptions, Qcow2Image } from '../src/index';

/** What reached the image file while recording: a write, a size change, or a durability barrier. */
export type FileEvent = { kind: 'write'; offset: number; bytes: Buffer } | { kind: 'truncate'; size: number } | { kind: 'barrier' };

/** The image's file I/O, passed through to the real file and recorded between start() and stop(). */
export class RecordingFile implements FileIo {
  readonly events: FileEvent[] = [];
  private recording = false;

  constructor(private readonly inner: FileHandle) {}

  start(): void {
    this.events.length = 0;
    this.recording = true;
  }

  stop(): void {
    this.recording = false;
  }

  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }> {
    return this.inner.read(buffer, offset, length, position);
  }

  async write(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesWritten: number }> {
    const result = await this.inner.write(buffer, offset, length, position);
    if (this.recording) this.events.push({ kind: 'write', offset: position, bytes: Buffer.from(buffer.subarray(offset, offset + result.bytesWritten)) });
    return result;
  }

  async truncate(length: number): Promise<void> {
    await this.inner.truncate(length);
    if (this.recording) this.events.push({ kind: 'truncate', size: length });
  }

  async datasync(): Promise<void> {
    await this.inner.datasync();
    if (this.recording) this.events.push({ kind: 'barrier' });
  }

  stat(): Promise<{ size: number }> {
    return this.inner.stat();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** Opens `path` for writing through a RecordingFile. */
export async function openRecorded(path: string, options: Pick<OpenOptions, 'refcountCacheBlocks'> = {}): Promise<{ image: Qcow2Image; file: RecordingFile }> {
  let file: RecordingFile | undefined;
  const image = await Qcow2Image.open(path, {
    ...options,
    writable: true,
    openFile: async (p, flags) => (file = new RecordingFile(await open(p, flags))),
  });
  return { image, file: file as RecordingFile };
}

/** Records what `update` writes, from the image as it is on disk now (the caller flushed before). */
export async function recordUpdate(path: string, file: RecordingFile, update: () => Promise<void>): Promise<{ base: Buffer; events: FileEvent[] }> {
  const base = await readFile(path);
  file.start();
  try {
    await update();
  } finally {
    file.stop();
  }
  return { base, events: file.events };
}
