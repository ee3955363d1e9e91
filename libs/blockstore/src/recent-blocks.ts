/**
 * The last few distinct blocks a restore fetched, by name, so that a block repeated close by (a pattern, a file copied
 * twice) is fetched once. Bounded: a volume's distinct blocks are never all remembered; one repeated far apart is
 * fetched again.
 */
export class RecentBlocks {
  private readonly blocks = new Map<string, Promise<Buffer>>();

  constructor(private readonly capacity: number) {}

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
    if (this.blocks.size > this.capacity) this.blocks.delete(this.blocks.keys().next().value as string);
    return fetched;
  }
}
