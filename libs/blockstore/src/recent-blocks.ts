/**
 * The last few distinct blocks fetched (by a restore, by the agent's snapshot server), by key, so that a block asked for
 * again close by (a pattern, a file copied twice, a block QEMU reads in several requests) is fetched once. Bounded: a
 * volume's distinct blocks are never all remembered; one repeated far apart is fetched again. Each block weighs what
 * its `get` says (1 by default, so that the capacity counts blocks; its length in bytes where blocks of several sizes
 * share one cache), and the least recently used go once the weights kept pass the capacity; a block in flight weighs as
 * much as one fetched.
 */
export class RecentBlocks {
  private readonly blocks = new Map<string, { block: Promise<Buffer>; weight: number }>();
  private weightKept = 0;

  /**
   * @param capacity the total weight kept (blocks, when each weighs 1).
   * @param forget told of each block the cache lets go of (pushed out, or `clear`), e.g. to give lent memory back.
   */
  constructor(
    private readonly capacity: number,
    private readonly forget?: (block: Buffer) => void,
  ) {
    // with none kept, `get` would drop the block it returns before its caller could take a hold on it
    if (!(capacity >= 1)) throw new RangeError(`recent blocks kept: ${capacity}; at least 1`);
  }

  /** The block's bytes: the fetch already made or in flight for the same key, or `fetch()`. */
  get(key: Buffer | string, fetch: () => Promise<Buffer>, weight = 1): Promise<Buffer> {
    const name = typeof key === 'string' ? key : key.toString('hex');
    const known = this.blocks.get(name);
    if (known) {
      this.blocks.delete(name); // most recently used last
      this.blocks.set(name, known);
      return known.block;
    }
    const fetched = fetch();
    fetched.catch(() => this.blocks.get(name)?.block === fetched && this.drop(name));
    this.blocks.set(name, { block: fetched, weight });
    this.weightKept += weight;
    // the block just asked for is the last one: never pushed out by its own weight, so its caller receives it
    while (this.weightKept > this.capacity && this.blocks.size > 1) this.drop(this.blocks.keys().next().value as string);
    return fetched;
  }

  /** The weight of the blocks kept now (fetched or in flight). */
  get weight(): number {
    return this.weightKept;
  }

  /** Lets go of every block. */
  clear(): void {
    for (const name of [...this.blocks.keys()]) this.drop(name);
  }

  /**
   * A caller that received a block before it was dropped registered its own reaction to the same promise earlier,
   * so `forget` always runs after it: a caller keeping the block takes its hold first.
   */
  private drop(name: string): void {
    const kept = this.blocks.get(name);
    if (!kept) return;
    this.blocks.delete(name);
    this.weightKept -= kept.weight;
    const forget = this.forget;
    if (forget) kept.block.then(forget, () => undefined);
  }
}
