/** Memory reserved for a piece of work; `release` gives it back (once: later calls do nothing). */
export interface BlockMemoryReservation {
  readonly bytes: number;
  release(): void;
}

/**
 * The block memory one process lets its jobs have in flight at once, whatever mix of snapshot parts, restores and
 * copies its deliveries bring: each job bounds its own depth, but a worker runs several jobs at a time (two deliveries
 * per queue), and block memory once taken stays with the process (BlockBuffers' pool, then malloc's free lists), so
 * their sum was what set a worker's resident set (over 300 MiB: docs/performance.md, "Peak memory of a restore").
 * A job reserves what a unit of its work will hold (an upload batch, a block being restored or copied) before taking
 * that memory, and releases it once the memory is given back. Reservations are granted in the order asked for, so a
 * large one is not passed over for ever by small ones; one larger than the whole budget waits until it can have all of it.
 * No job waits for a reservation while holding one that only its own later progress would release: an upload batch
 * reserves once, a copy each transfer, a restore each block until its writes are done (the recent blocks it keeps for
 * repeats hold no reservation: LentBlocks). So every reservation comes back, and a large one is granted once the
 * others before it are released. Upload batches are cut to fit (at most 32 MiB of blocks: upload-batches.ts).
 */
export class BlockMemoryBudget {
  private available: number;
  private readonly waiting: { bytes: number; grant: () => void }[] = [];

  constructor(readonly totalBytes: number) {
    this.available = totalBytes;
  }

  async reserve(bytes: number): Promise<BlockMemoryReservation> {
    const wanted = Math.min(bytes, this.totalBytes);
    if (this.waiting.length > 0 || wanted > this.available) await new Promise<void>((grant) => this.waiting.push({ bytes: wanted, grant }));
    else this.available -= wanted;
    let held = true;
    return {
      bytes: wanted,
      release: () => {
        if (!held) return;
        held = false;
        this.available += wanted;
        this.grantWaiting();
      },
    };
  }

  /** Bytes reserved now. */
  get reservedBytes(): number {
    return this.totalBytes - this.available;
  }

  /** Reservations waiting for memory now. */
  get waitingCount(): number {
    return this.waiting.length;
  }

  private grantWaiting(): void {
    while (this.waiting.length > 0 && this.waiting[0].bytes <= this.available) {
      const next = this.waiting.shift() as { bytes: number; grant: () => void };
      this.available -= next.bytes;
      next.grant();
    }
  }
}

/**
 * A process's budget: 64 MiB — in a worker, two upload batches (32 blocks of 1 MiB, 8 of 4 MiB), or a restore's blocks in
 * flight (8 GETs, 16 queued writes), with room to spare for a copy's transfers; in an agent, the snapshot server's GETs.
 */
export const BLOCK_MEMORY_BYTES = 64 * 1024 * 1024;

/** The process's budget, shared by its uploads, restores and copies. */
export const blockMemory = new BlockMemoryBudget(BLOCK_MEMORY_BYTES);
