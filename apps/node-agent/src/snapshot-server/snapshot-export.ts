import { FileHandle } from 'node:fs/promises';
import { ProjectKeys, RecentBlocks, SwiftBlockStore } from '@island/blockstore';
import { injectedDelay } from '@island/platform';
import { NbdExport } from './nbd-server';
import { FillSource } from './fill-registry';

const NAME_BYTES = 32;
/** Blocks kept after a read: QEMU reads a 1 MiB block in several requests (its clusters, the stream job's chunks). */
const KEPT_BLOCKS = 32;
/**
 * Blocks fetched ahead of a sequential reader (the fill job reads one chunk at a time, in order): the next ones are in
 * flight while QEMU copies this one, as a full restore keeps 8 GETs going. Fewer than KEPT_BLOCKS, so none is evicted
 * before it is read.
 */
const READ_AHEAD = 8;

/** Why a read of the snapshot failed, with what it was reading (the fill reports the last one). */
export class SnapshotReadError extends Error {}

/**
 * A snapshot as a read-only disk of the volume's size: a read finds each block's name in the block map, fetches the
 * block from Swift (authenticated and verified against its name under the project's keys, by the block store), and
 * answers with its bytes; holes and bytes past the snapshot's end read as zeros without touching Swift.
 */
export class SnapshotExport implements NbdExport {
  private readonly recent = new RecentBlocks(KEPT_BLOCKS);
  /** The block after the last one a read ended in: a read that starts there continues a sequential stream. */
  private nextInSequence = -1;
  lastError?: string;

  constructor(
    private readonly source: FillSource,
    private readonly map: FileHandle,
    private readonly store: SwiftBlockStore,
    private readonly keys: ProjectKeys | undefined,
    private readonly onBlockFetched: (bytes: number) => void,
  ) {}

  get size(): number {
    return this.source.volumeBytes;
  }

  get preferredBlockSize(): number {
    return this.source.blockSize;
  }

  async read(offset: number, length: number): Promise<Buffer> {
    const out = Buffer.alloc(length);
    const { blockSize } = this.source;
    const reads: Promise<void>[] = [];
    for (let at = offset; at < offset + length;) {
      const index = Math.floor(at / blockSize);
      const end = Math.min((index + 1) * blockSize, offset + length);
      const into = at - offset;
      const within = at - index * blockSize;
      const count = end - at;
      reads.push(this.block(index).then((block) => void block?.copy(out, into, within, within + count)));
      at = end;
    }
    this.readAhead(Math.floor(offset / blockSize), Math.floor((offset + length - 1) / blockSize));
    await Promise.all(reads);
    return out;
  }

  /** A read that continues the previous one: the blocks after it are fetched now (failures are left to their own reads). */
  private readAhead(first: number, last: number): void {
    const sequential = first === this.nextInSequence || first === this.nextInSequence - 1;
    this.nextInSequence = last + 1;
    if (!sequential) return;
    for (let index = last + 1; index <= last + READ_AHEAD; index++) this.block(index).catch(() => undefined);
  }

  /** The block's bytes, or undefined for zeros (a hole, or past the snapshot's end). */
  private async block(index: number): Promise<Buffer | undefined> {
    if (index * this.source.blockSize >= this.source.snapshotBytes) return undefined;
    const name = Buffer.alloc(NAME_BYTES);
    await this.map.read(name, 0, NAME_BYTES, index * NAME_BYTES);
    if (name.every((b) => b === 0)) return undefined;
    return this.recent.get(name, async () => {
      try {
        await injectedDelay('snapshot-server.fetch');
        const block = await this.store.getBlock(name, this.keys);
        this.onBlockFetched(block.length);
        return block;
      } catch (error) {
        const reason = `block ${index} of ${this.source.manifestObject} could not be read: ${(error as Error).message}`;
        this.lastError = reason;
        throw new SnapshotReadError(reason);
      }
    });
  }

  async close(): Promise<void> {
    await this.map.close();
  }
}
