import { ManifestEntry } from '@island/blockstore';

/**
 * Blocks where two block maps differ — an entry only one of them has, or the same block under other names — each map
 * given as batches of entries in increasing block order. It awaits only when a batch is used up: fsck walks a 4 TiB
 * volume's 4 M entries this way, and an await per entry would leave a promise per entry for the collector.
 */
export async function countDifferingBlocks(ours: AsyncIterable<ManifestEntry[]>, theirs: AsyncIterable<ManifestEntry[]>): Promise<number> {
  const left = await BatchCursor.open(ours);
  const right = await BatchCursor.open(theirs);
  let differing = 0;
  for (;;) {
    const l = left.entry;
    const r = right.entry;
    if (!l && !r) return differing;
    if (l && r && l.index === r.index) {
      if (!l.hash.equals(r.hash)) differing++;
      left.step();
      right.step();
    } else {
      differing++;
      if (l && (!r || l.index < r.index)) left.step();
      else right.step();
    }
    if (left.usedUp) await left.refill();
    if (right.usedUp) await right.refill();
  }
}

/** One entry after another of a map given in batches. */
class BatchCursor {
  private batch: ManifestEntry[] = [];
  private at = 0;
  private ended = false;

  private constructor(private readonly batches: AsyncIterator<ManifestEntry[]>) {}

  static async open(batches: AsyncIterable<ManifestEntry[]>): Promise<BatchCursor> {
    const cursor = new BatchCursor(batches[Symbol.asyncIterator]());
    await cursor.refill();
    return cursor;
  }

  /** The current entry; undefined once the map is read. */
  get entry(): ManifestEntry | undefined {
    return this.batch[this.at];
  }

  step(): void {
    this.at++;
  }

  /** Whether the current batch is read and another may follow. */
  get usedUp(): boolean {
    return this.at >= this.batch.length && !this.ended;
  }

  /** Reads batches until one has entries, or the map ends. */
  async refill(): Promise<void> {
    this.at = 0;
    this.batch = [];
    while (this.batch.length === 0 && !this.ended) {
      const next = await this.batches.next();
      if (next.done) this.ended = true;
      else this.batch = next.value;
    }
  }
}
