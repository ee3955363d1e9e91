import { blockBuffers, HeldBlocks, RecentBlocks } from '@island/blockstore';

/**
 * The blocks a host's snapshot server fetched for its exports, kept for the reads to come (QEMU reads a 1 MiB block in
 * several requests; the blocks fetched ahead wait here): at most `capacityBytes` for all exports together, however
 * many volumes fill at once. Blocks arrive in memory lent from blockBuffers and go back to it once neither the cache nor
 * a read holds them, so the next GET reuses the memory instead of leaving it to a full collection.
 */
export class ServedBlocks {
  private readonly holds = new HeldBlocks(blockBuffers);
  private readonly recent: RecentBlocks;
  private exportsOpen = 0;

  constructor(private readonly capacityBytes: number) {
    this.recent = new RecentBlocks(capacityBytes, (block) => this.holds.release(block));
  }

  /**
   * The block kept under `key`, or `fetch()`ed (into lent memory) and kept, weighing `bytes`; held for the caller until
   * it calls `release` with it.
   */
  get(key: string, fetch: () => Promise<Buffer>, bytes: number): Promise<Buffer> {
    const kept = this.recent.get(key, () => fetch().then((block) => this.held(block)), bytes);
    // taken now, before the cache can let go of it: RecentBlocks tells what it forgets after every earlier reaction
    return kept.then((block) => this.held(block));
  }

  /** An export that reads through this cache opened (`exportClosed` when it closes): they share its capacity. */
  exportOpened(): void {
    this.exportsOpen++;
  }

  exportClosed(): void {
    this.exportsOpen = Math.max(0, this.exportsOpen - 1);
  }

  /**
   * What one export may fetch ahead of its reader: half its share of the capacity, so that every export's blocks ahead
   * and the blocks being read fit at once. Were they to pass the capacity, blocks fetched ahead would be pushed out
   * before they are read and fetched again (8 volumes of 1 GiB filling at once, 8 blocks ahead each in a bound of 48 MiB:
   * 700 s, against 86–100 s with read-ahead shared).
   */
  get aheadBytesPerExport(): number {
    return this.capacityBytes / (2 * Math.max(1, this.exportsOpen));
  }

  release(block: Buffer): void {
    this.holds.release(block);
  }

  /** Bytes the cache counts now (fetched or in flight). */
  get keptBytes(): number {
    return this.recent.weight;
  }

  /** Blocks the cache or a read holds now. */
  get heldBlocks(): number {
    return this.holds.held;
  }

  private held(block: Buffer): Buffer {
    this.holds.hold(block);
    return block;
  }
}
