import { FileHandle, open } from 'node:fs/promises';
import { NbdReadClient } from './nbd-client';
import { FillSource } from './fill-registry';

const NAME_BYTES = 32;
/** Map entries read at a time. */
const MAP_PAGE = 4096;
/** Blocks read at once: the snapshot server fetches ahead of a sequential reader, the filter copies each as it comes. */
const READS_IN_FLIGHT = 4;
/** Through a FUSE file each read holds a libuv worker thread until the daemon answers (threadpool.ts): fewer. */
const FILE_READS_IN_FLIGHT = 2;

/** Where the agent reads a filling volume: the guest's FUSE file, or an NBD export of the daemon. */
export type FillReadTarget = { file: string } | { socket: string; exportName: string };

/** Reads ranges of a filling volume only so that its copy-on-read filter copies them into the image. */
interface RangeReader {
  read(offset: number, length: number): Promise<void>;
  /** Fails the reads in flight at once where the transport allows it (NBD: the connection is dropped). */
  abort(): void;
  close(): Promise<void>;
}

async function openReader(target: FillReadTarget, blockSize: number): Promise<RangeReader> {
  if ('socket' in target) {
    const client = await NbdReadClient.connect(target.socket, target.exportName);
    return { read: (offset, length) => client.read(offset, length), abort: () => client.abort(), close: () => client.close() };
  }
  const file: FileHandle = await open(target.file, 'r');
  const buffers = Array.from({ length: FILE_READS_IN_FLIGHT }, () => Buffer.allocUnsafe(blockSize));
  let next = 0;
  return {
    read: async (offset, length) => {
      const buffer = buffers[next++ % buffers.length];
      for (let done = 0; done < length;) {
        const { bytesRead } = await file.read(buffer, 0, Math.min(buffer.length, length - done), offset + done);
        if (bytesRead === 0) throw new Error(`${target.file} ended at ${offset + done} bytes`);
        done += bytesRead;
      }
    },
    abort: () => undefined, // a read of the FUSE file ends when the daemon answers it
    close: () => file.close(),
  };
}

/**
 * One pass of a volume's fill: reads, in order from `source.cursor`, every block its snapshot holds (holes are
 * skipped: they read as zeros once the image stands alone), a few at a time, through the daemon's copy-on-read filter.
 * `cursor` is the first block not known to be copied; a pass that stops (a failed read, stop()) is resumed from it.
 */
export class FillRun {
  stopped = false;
  private reader?: RangeReader;
  cursor: number;

  constructor(
    private readonly source: FillSource,
    private readonly mapPath: string,
    private readonly target: FillReadTarget,
  ) {
    this.cursor = source.cursor ?? 0;
  }

  get blocks(): number {
    return Math.ceil(this.source.snapshotBytes / this.source.blockSize);
  }

  /** Bytes of the snapshot's range behind the cursor. */
  get doneBytes(): number {
    return Math.min(this.cursor * this.source.blockSize, this.source.snapshotBytes);
  }

  /** Resolves once every block was read (or the run was stopped); rejects with the first failed read. */
  async run(): Promise<void> {
    const map = await open(this.mapPath, 'r');
    try {
      this.reader = await openReader(this.target, this.source.blockSize);
      const inFlight: { index: number; read: Promise<void> }[] = [];
      const settle = async () => {
        const first = inFlight.shift()!;
        await first.read;
        this.cursor = inFlight[0]?.index ?? first.index + 1;
      };
      for await (const index of this.heldBlocks(map)) {
        if (this.stopped) break;
        if (inFlight.length === 0) this.cursor = index;
        const offset = index * this.source.blockSize;
        const read = this.reader.read(offset, Math.min(this.source.blockSize, this.source.snapshotBytes - offset));
        read.catch(() => undefined); // awaited in order by settle
        inFlight.push({ index, read });
        if (inFlight.length >= ('file' in this.target ? FILE_READS_IN_FLIGHT : READS_IN_FLIGHT)) await settle();
      }
      while (inFlight.length > 0) await settle();
      if (!this.stopped) this.cursor = this.blocks;
    } finally {
      await map.close();
      await this.reader?.close().catch(() => undefined);
    }
  }

  /** True once every block the snapshot holds was read (not when the run was stopped or failed). */
  get finished(): boolean {
    return this.cursor >= this.blocks;
  }

  /** Ends the run: reads in flight are abandoned where possible (their copies are QEMU's to finish), else awaited. */
  stop(): void {
    this.stopped = true;
    this.reader?.abort();
  }

  /** The indexes from the cursor on whose map entry names a block (not a hole). */
  private async *heldBlocks(map: FileHandle): AsyncGenerator<number> {
    const page = Buffer.alloc(MAP_PAGE * NAME_BYTES);
    for (let first = this.cursor; first < this.blocks; first += MAP_PAGE) {
      const { bytesRead } = await map.read(page, 0, page.length, first * NAME_BYTES);
      const entries = Math.min(Math.floor(bytesRead / NAME_BYTES), this.blocks - first);
      for (let i = 0; i < entries; i++) {
        const at = i * NAME_BYTES;
        if (page.readBigUInt64BE(at) | page.readBigUInt64BE(at + 8) | page.readBigUInt64BE(at + 16) | page.readBigUInt64BE(at + 24)) yield first + i;
      }
      if (entries < Math.min(MAP_PAGE, this.blocks - first)) break; // a short map: the rest are holes
    }
  }
}
