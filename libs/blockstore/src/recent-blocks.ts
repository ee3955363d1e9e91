/**
 * The last few distinct blocks a restore fetched, by name, so that a block repeated close by (a pattern, a file copied
 * twice) is fetched once. Bounded: a volume's distinct blocks are never all remembered; one repeated far apart is
 * fetched again.
 */
export class RecentBlocks {
  private readonly blocks = new Map<string, Promise<Buffer>>();

  /** @param forget told of each block the cache lets go of (pushed out, or `clear`), e.g. to give lent memory back. */
  constructor(
    private readonly capacity: number,
    private readonly forget?: (block: Buffer) => void,
  ) {
    // with none kept, `get` would drop the block it returns before its caller could take a hold on it
    if (!(capacity >= 1)) throw new RangeError(`recent blocks kept: ${capacity}; at least 1`);
  }

  /** The block's bytes: the fetch already made or in flight for the same name, or `fetch()`. */
  get(hash: Buffer, fetch: () => Promise<Buffer>): Promise<Buffer> {
    const key = hash.toString('hex');
    const known = this.blocks.get(key);
    if (known) {
      this.blocks.delete(key); // most recently used last
      this.blocks.set(key, known);
      return known;
    }
    const fetched = fetch();
    fetched.catch(() => this.blocks.get(key) === fetched && this.blocks.delete(key));
    this.blocks.set(key, fetched);
    if (this.blocks.size > this.capacity) this.drop(this.blocks.keys().next().value as string);
    return fetched;
  }

  /** Lets go of every block. */
  clear(): void {
    for (const key of [...this.blocks.keys()]) this.drop(key);
  }

  /**
   * A caller that received a block before it was dropped registered its own reaction to the same promise earlier,
   * so `forget` always runs after it: a caller keeping the block takes its hold first.
   */
  private drop(key: string): void {
    const block = this.blocks.get(key);
    this.blocks.delete(key);
    const forget = this.forget;
    if (block && forget) block.then(forget, () => undefined);
  }
}
