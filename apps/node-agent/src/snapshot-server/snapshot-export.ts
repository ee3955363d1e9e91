import { FileHandle } from 'node:fs/promises';
import { blockMemory, ProjectKeys, SwiftBlockStore } from '@island/blockstore';
import { injectedDelay } from '@island/platform';
import { NbdExport } from './nbd-server';
import { FillSource } from './fill-registry';
import { ServedBlocks } from './served-blocks';

const NAME_BYTES = 32;
/**
 * Blocks fetched ahead of a sequential reader (the fill job reads one chunk at a time, in order): the next ones are in
 * flight while QEMU copies this one, as a full restore keeps 8 GETs going — 8 blocks, or fewer of larger blocks (at
 * most READ_AHEAD_BYTES), and fewer when many volumes fill at once (ServedBlocks.aheadBytesPerExport), so that none is
 * pushed out of the served blocks before it is read.
 */
const READ_AHEAD_BLOCKS = 8;
const READ_AHEAD_BYTES = 8 * 1024 * 1024;
/** Block names read from the block map at a time (32 KiB), and how many such pages are kept: a sequential reader reads the map once. */
const MAP_PAGE_NAMES = 1024;
const MAP_PAGES_KEPT = 4;

/** Why a read of the snapshot failed, with what it was reading (the fill reports the last one). */
export class SnapshotReadError extends Error {}

/**
 * A snapshot as a read-only disk of the volume's size: a read finds each block's name in the block map, fetches the
 * block from Swift (authenticated and verified against its name under the project's keys, by the block store), and
 * answers with its bytes; holes and bytes past the snapshot's end read as zeros without touching Swift.
 */
export class SnapshotExport implements NbdExport {
  private static exportsOpened = 0;
  /** Prefixes this export's keys in the served blocks: exports share their bytes' bound, never their blocks. */
  private readonly keyPrefix = `${++SnapshotExport.exportsOpened}:`;
  /** Replies that are a view of a served block, with that block: held until the reply is written (`readDone`). */
  private readonly replies = new WeakMap<Buffer, Buffer>();
  private readonly mapPages = new Map<number, Promise<Buffer>>();
  /** The block after the last one a read ended in: a read that starts there continues a sequential stream. */
  private nextInSequence = -1;
  private closed = false;
  lastError?: string;

  /**
   * @param served the blocks the process's exports fetched last, kept (by bytes) across reads.
   */
  constructor(
    private readonly source: FillSource,
    private readonly map: FileHandle,
    private readonly store: SwiftBlockStore,
    private readonly keys: ProjectKeys | undefined,
    private readonly served: ServedBlocks,
    private readonly onBlockFetched: (bytes: number) => void,
  ) {
    served.exportOpened();
  }

  get size(): number {
    return this.source.volumeBytes;
  }

  get preferredBlockSize(): number {
    return this.source.blockSize;
  }

  async read(offset: number, length: number): Promise<Buffer> {
    const { blockSize } = this.source;
    const first = Math.floor(offset / blockSize);
    const last = Math.floor((offset + length - 1) / blockSize);
    const reads: Promise<Buffer | undefined>[] = [];
    for (let index = first; index <= last; index++) reads.push(this.block(index));
    this.readAhead(first, last);
    const settled = await Promise.allSettled(reads);
    const blocks = settled.map((read) => (read.status === 'fulfilled' ? read.value : undefined));
    const failed = settled.find((read): read is PromiseRejectedResult => read.status === 'rejected');
    if (failed) {
      this.releaseAll(blocks);
      throw failed.reason;
    }
    const within = offset - first * blockSize;
    // within one block (the fill job and copy-on-read read whole clusters, a block each): the block's own bytes, not a
    // copy — a fetched block is never written to, and stays held until the reply is written
    if (first === last && blocks[0] && within + length <= blocks[0].length) {
      const reply = blocks[0].subarray(within, within + length);
      this.replies.set(reply, blocks[0]);
      return reply;
    }
    const out = Buffer.alloc(length);
    blocks.forEach((block, i) => {
      const start = (first + i) * blockSize;
      const from = Math.max(offset, start) - start;
      block?.copy(out, start + from - offset, from, Math.min(offset + length, start + blockSize) - start);
    });
    this.releaseAll(blocks);
    return out;
  }

  /** A reply `read` returned was written (or its connection closed): the block it is a view of may go back to the pool. */
  readDone(reply: Buffer): void {
    const block = this.replies.get(reply);
    if (!block) return;
    this.replies.delete(reply);
    this.served.release(block);
  }

  private releaseAll(blocks: (Buffer | undefined)[]): void {
    for (const block of blocks) if (block) this.served.release(block);
  }

  /** A read that continues the previous one: the blocks after it are fetched now (failures are left to their own reads). */
  private readAhead(first: number, last: number): void {
    const sequential = first === this.nextInSequence || first === this.nextInSequence - 1;
    this.nextInSequence = last + 1;
    if (!sequential) return;
    const ahead = Math.min(READ_AHEAD_BLOCKS, Math.floor(Math.min(READ_AHEAD_BYTES, this.served.aheadBytesPerExport) / this.source.blockSize));
    for (let index = last + 1; index <= last + ahead; index++) {
      this.block(index).then(
        (block) => block && this.served.release(block), // kept by the served blocks for the read to come
        () => undefined, // left to its own read
      );
    }
  }

  /** The block's bytes, held for the caller (release them to `served`), or undefined for zeros (a hole, or past the snapshot's end). */
  private async block(index: number): Promise<Buffer | undefined> {
    if (index * this.source.blockSize >= this.source.snapshotBytes) return undefined;
    const name = await this.nameOf(index);
    if (name.every((b) => b === 0)) return undefined;
    const { blockSize } = this.source;
    return this.served.get(
      this.keyPrefix + name.toString('hex'),
      async () => {
        // a GET in flight holds memory the served blocks may already have pushed out (many volumes filling at once): the
        // process's block memory budget bounds those
        const memory = await blockMemory.reserve(blockSize);
        try {
          await injectedDelay('snapshot-server.fetch');
          const block = await this.store.getBlock(name, this.keys, { lent: true });
          this.onBlockFetched(block.length);
          return block;
        } catch (error) {
          const reason = `block ${index} of ${this.source.manifestObject} could not be read: ${(error as Error).message}`;
          this.lastError = reason;
          throw new SnapshotReadError(reason);
        } finally {
          memory.release();
        }
      },
      blockSize,
    );
  }

  /** The name of block `index` in the snapshot's block map (all zeros: a hole). */
  private async nameOf(index: number): Promise<Buffer> {
    const page = Math.floor(index / MAP_PAGE_NAMES);
    let names = this.mapPages.get(page);
    if (!names) {
      const read = Buffer.alloc(MAP_PAGE_NAMES * NAME_BYTES);
      names = this.map.read(read, 0, read.length, page * read.length).then(() => read);
      this.mapPages.set(page, names);
      names.catch(() => this.mapPages.get(page) === names && this.mapPages.delete(page));
      if (this.mapPages.size > MAP_PAGES_KEPT) this.mapPages.delete(this.mapPages.keys().next().value as number);
    }
    const at = (index % MAP_PAGE_NAMES) * NAME_BYTES;
    return (await names).subarray(at, at + NAME_BYTES);
  }

  async close(): Promise<void> {
    if (!this.closed) this.served.exportClosed();
    this.closed = true;
    await this.map.close();
  }
}
