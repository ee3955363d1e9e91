import { Qcow2Image } from '@island/qcow2';

/** Longest write the writer makes at once: adjacent blocks are joined up to this many bytes. */
const MAX_RUN_BYTES = 16 * 1024 * 1024;

interface Pending {
  index: number;
  data: Buffer;
}

/**
 * The single writer of an image being restored. Fetchers hand it blocks as they arrive; it writes what has
 * queued up in block order, joining adjacent blocks into one write. The restoring process is busy receiving
 * and hashing blocks, so each write waits for a turn of its event loop: one write per run of blocks instead
 * of one per block is what lets the disk keep up with the network.
 */
export class RestoreWriter {
  private pending: Pending[] = [];
  private draining: Promise<void> | undefined;
  private failure: Error | undefined;
  private waiters: (() => void)[] = [];
  /** Block entries written so far (a block repeated at several indexes counts once per index). */
  entriesWritten = 0;
  bytesWritten = 0;

  constructor(
    private readonly image: Qcow2Image,
    private readonly blockSize: number,
    /** Entries that may wait to be written; `add` holds its caller while more are queued (bounds memory). */
    private readonly maxQueued: number,
  ) {}

  /** Queues one block's bytes for each of its indexes; resolves once the queue has room again. */
  async add(indexes: number[], data: Buffer): Promise<void> {
    this.throwIfFailed();
    for (const index of indexes) this.pending.push({ index, data });
    this.startDraining();
    while (this.pending.length >= this.maxQueued && !this.failure) await new Promise<void>((resolve) => this.waiters.push(resolve));
    this.throwIfFailed();
  }

  /** Resolves when every queued block is written; rejects with the first write error. */
  async finish(): Promise<void> {
    while (this.draining) await this.draining;
    this.throwIfFailed();
  }

  private startDraining(): void {
    this.draining ??= this.drain().finally(() => {
      this.draining = undefined;
    });
  }

  private async drain(): Promise<void> {
    try {
      while (this.pending.length > 0) {
        const batch = this.pending.sort((a, b) => a.index - b.index);
        this.pending = [];
        this.wakeWaiters();
        for (const run of this.runs(batch)) {
          await this.image.write(run.index * this.blockSize, run.data);
          this.bytesWritten += run.data.length;
          this.entriesWritten += run.entries;
        }
      }
    } catch (error) {
      this.failure = error as Error;
      this.wakeWaiters();
    }
  }

  /** Adjacent whole blocks joined into writes of at most MAX_RUN_BYTES. */
  private *runs(batch: Pending[]): Generator<{ index: number; data: Buffer; entries: number }> {
    let at = 0;
    while (at < batch.length) {
      let end = at + 1;
      let bytes = batch[at].data.length;
      while (
        end < batch.length &&
        batch[end].index === batch[end - 1].index + 1 &&
        batch[end - 1].data.length === this.blockSize &&
        bytes + batch[end].data.length <= MAX_RUN_BYTES
      ) {
        bytes += batch[end].data.length;
        end++;
      }
      const parts = batch.slice(at, end);
      yield { index: batch[at].index, data: parts.length === 1 ? parts[0].data : Buffer.concat(parts.map((p) => p.data), bytes), entries: parts.length };
      at = end;
    }
  }

  private wakeWaiters(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }
}
