import { BlockBuffers, BlockMemoryReservation, HeldBlocks } from '@island/blockstore';

/**
 * Who holds each block a restore fetched into lent memory — the recent-blocks cache, each write queued (HeldBlocks) —
 * and what each block reserved.
 *
 * A block's reservation of the process's block memory (blockMemory) is released once no write holds it any more, even
 * while the recent blocks keep it: a reservation held across the restore's own waits for memory could only come back
 * when the restore moves on, and other jobs' reservations, granted in order, would wait for it (the recent blocks are
 * bounded apart: RESTORE_RECENT_BYTES).
 */
export class LentBlocks {
  private readonly holds: HeldBlocks;
  private readonly writes = new Map<Buffer, number>();
  private readonly reservations = new Map<Buffer, BlockMemoryReservation>();

  constructor(buffers: BlockBuffers) {
    this.holds = new HeldBlocks(buffers, (block) => this.releaseReservation(block));
  }

  hold(block: Buffer): void {
    this.holds.hold(block);
  }

  /** One holder lets go; the last one gives the memory back. A block nobody holds is ignored. */
  release(block: Buffer): void {
    this.holds.release(block);
  }

  /** A write's hold: a hold that also keeps the block's reservation. */
  holdForWrite(block: Buffer): void {
    this.writes.set(block, (this.writes.get(block) ?? 0) + 1);
    this.hold(block);
  }

  /** A write is done with the block: the last write releases its reservation, then lets go as any holder. */
  releaseWrite(block: Buffer): void {
    const left = this.writes.get(block);
    if (left !== undefined && left > 1) {
      this.writes.set(block, left - 1);
    } else {
      this.writes.delete(block);
      this.releaseReservation(block);
    }
    this.release(block);
  }

  /** The memory reserved for a block (blockMemory): released when no write holds it, or with the block. */
  reservedFor(block: Buffer, reservation: BlockMemoryReservation): void {
    this.reservations.set(block, reservation);
  }

  /** Releases what is still reserved for blocks a failed restore left held (its fetchers and writer are done). */
  releaseReservations(): void {
    for (const reservation of this.reservations.values()) reservation.release();
    this.reservations.clear();
  }

  /** Blocks some holder still has (none once a restore's fetchers and writer are done). */
  get held(): number {
    return this.holds.held;
  }

  private releaseReservation(block: Buffer): void {
    this.reservations.get(block)?.release();
    this.reservations.delete(block);
  }
}
