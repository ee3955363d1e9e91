/**
 * Reads exact byte counts from a stream of chunks, holding no more than the chunk being consumed and what was asked
 * for: what lets a manifest of millions of entries be parsed as it arrives.
 */
export class ByteReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private ended = false;
  private readonly source: AsyncIterator<Buffer>;

  constructor(source: AsyncIterable<Buffer> | Iterable<Buffer>) {
    this.source = Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : toAsync(source[Symbol.iterator]());
  }

  /** Exactly `n` bytes, or undefined when the stream ends first (`pending` then says how many were left). */
  async read(n: number): Promise<Buffer | undefined> {
    while (this.buffered < n && (await this.pull()));
    if (this.buffered < n) return undefined;
    const first = this.chunks[0];
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let at = 0;
      while (at < n) {
        const chunk = this.chunks[0];
        const take = Math.min(chunk.length, n - at);
        chunk.copy(out, at, 0, take);
        at += take;
        if (take === chunk.length) this.chunks.shift();
        else this.chunks[0] = chunk.subarray(take);
      }
    }
    this.buffered -= n;
    return out;
  }

  /** The next `n` bytes without consuming them (fewer when the stream ends first). */
  async peek(n: number): Promise<Buffer> {
    while (this.buffered < n && (await this.pull()));
    const first = this.chunks[0] ?? Buffer.alloc(0);
    if (first.length >= n) return first.subarray(0, n);
    return Buffer.concat(this.chunks).subarray(0, n);
  }

  /** Everything left, to the stream's end. */
  async rest(): Promise<Buffer> {
    while (await this.pull());
    const out = Buffer.concat(this.chunks);
    this.chunks = [];
    this.buffered = 0;
    return out;
  }

  /** Bytes held but not yet read (what a stream that ended short left). */
  get pending(): number {
    return this.buffered;
  }

  /** Whether the stream has no byte left. */
  async atEnd(): Promise<boolean> {
    while (this.buffered === 0 && (await this.pull()));
    return this.buffered === 0;
  }

  private async pull(): Promise<boolean> {
    if (this.ended) return false;
    const next = await this.source.next();
    if (next.done) {
      this.ended = true;
      return false;
    }
    const chunk = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value as Uint8Array);
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    return true;
  }
}

function toAsync(iterator: Iterator<Buffer>): AsyncIterator<Buffer> {
  return { next: () => Promise.resolve(iterator.next()) };
}
