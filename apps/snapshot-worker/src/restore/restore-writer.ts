import { Qcow2Image } from '@island/qcow2';

interface Pending {
  ordinal: number;
  index: number;
  data: Buffer;
}

/** Told when a block is written at every index, and when a checkpoint may be taken (no write in flight then). */
export interface WriterProgress {
  blockWritten(ordinal: number): void;
  checkpointIfDue(): Promise<void>;
}

/**
 * The single writer of an image being restored. Fetchers hand it blocks as they arrive and go on fetching;
 * it writes whatever has queued up, in block order. Only when `maxQueued` entries wait does a fetcher wait,
 * and only until the writer takes them: the network never idles while the queue drains. Between batches, with
 * nothing in flight, it lets `progress` take a checkpoint.
 */
export class RestoreWriter {
  private pending: Pending[] = [];
  private draining: Promise<void> | undefined;
  private failure: Error | undefined;
  private waiters: (() => void)[] = [];
  /** Entries still to write, per block ordinal. */
  private readonly entriesLeft = new Map<number, number>();
  /** Block entries written so far (a block repeated at several indexes counts once per index). */
  entriesWritten = 0;
  bytesWritten = 0;

  constructor(
    private readonly image: Qcow2Image,
    private readonly blockSize: number,
    /**
     * Entries that may wait to be written; `add` holds its caller while more are queued. With the batch
     * being written, at most twice this many blocks are held in memory.
     */
    private readonly maxQueued: number,
    private readonly progress?: WriterProgress,
    /**
     * Told after each queued entry is written: the writer no longer holds its bytes. After a failed write, told at once
     * of every entry it will now never write, so that their memory (and its reservation) comes back.
     */
    private readonly entryDone?: (data: Buffer) => void,
  ) {}

  /** Queues block `ordinal`'s bytes for each of its indexes; resolves once the queue has room again. */
  async add(ordinal: number, indexes: number[], data: Buffer): Promise<void> {
    this.throwIfFailed();
    this.entriesLeft.set(ordinal, (this.entriesLeft.get(ordinal) ?? 0) + indexes.length);
    for (const index of indexes) this.pending.push({ ordinal, index, data });
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
    let batch: Pending[] = [];
    let next = 0; // the first entry of `batch` not yet written
    try {
      while (this.pending.length > 0) {
        batch = this.pending.sort((a, b) => a.index - b.index);
        this.pending = [];
        this.wakeWaiters();
        for (next = 0; next < batch.length;) {
          const { ordinal, index, data } = batch[next];
          await this.image.write(index * this.blockSize, data);
          next++;
          this.bytesWritten += data.length;
          this.entriesWritten += 1;
          this.entryDone?.(data);
          this.entryWritten(ordinal);
        }
        await this.progress?.checkpointIfDue();
      }
    } catch (error) {
      this.failure = error as Error;
      const dropped = [...batch.slice(next), ...this.pending];
      this.pending = [];
      for (const { data } of dropped) this.entryDone?.(data);
      this.wakeWaiters();
    }
  }

  private entryWritten(ordinal: number): void {
    const left = (this.entriesLeft.get(ordinal) ?? 1) - 1;
    if (left > 0) {
      this.entriesLeft.set(ordinal, left);
    } else {
      this.entriesLeft.delete(ordinal);
      this.progress?.blockWritten(ordinal);
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
