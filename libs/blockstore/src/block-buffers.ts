/**
 * Reusable memory for block-sized bodies (a block read from an image, a block object arriving from Swift).
 *
 * Every 1 MiB Buffer is memory outside V8's heap; V8 answers each ~64 MiB of such memory allocated with a full
 * collection, which cost a worker ~1.8 CPU-s per GiB restored (docs/performance.md). Bodies handed back here are
 * lent out again instead. A body is given back only by the code that took it, once nothing reads it any more;
 * one that is never given back (an error path) is simply collected.
 */
export class BlockBuffers {
  /** Free memory by byte length (block sizes are few: 256 KiB, 1 MiB, 4 MiB). */
  private readonly free = new Map<number, ArrayBuffer[]>();
  private freeBytes = 0;

  /**
   * @param maxFreeBytes memory kept for reuse at most; what is given back beyond it is left to the collector.
   * @param minBytes smaller bodies are not worth keeping (Node allocates those from its own slab).
   */
  constructor(
    readonly maxFreeBytes = 64 * 1024 * 1024,
    readonly minBytes = 64 * 1024,
  ) {}

  /** A Buffer of exactly `length` bytes, contents undefined (like Buffer.allocUnsafe). */
  take(length: number): Buffer {
    const memory = length >= this.minBytes ? this.free.get(length)?.pop() : undefined;
    if (!memory) return Buffer.allocUnsafe(length);
    this.freeBytes -= length;
    return Buffer.from(memory, 0, length);
  }

  /**
   * Gives a body back for reuse. Only whole bodies from `take` (or any Buffer that alone owns its memory) are kept;
   * a view into other memory is ignored, and so is memory given back twice.
   */
  giveBack(body: Buffer): void {
    const memory = body.buffer;
    const length = body.byteLength;
    if (!(memory instanceof ArrayBuffer) || body.byteOffset !== 0 || memory.byteLength !== length || length < this.minBytes) return;
    if (this.freeBytes + length > this.maxFreeBytes) return;
    const list = this.free.get(length) ?? [];
    if (list.includes(memory)) return;
    list.push(memory);
    this.free.set(length, list);
    this.freeBytes += length;
  }

  /** Bytes held for reuse now. */
  get heldBytes(): number {
    return this.freeBytes;
  }
}

/** The process's block bodies: the upload, restore and copy paths share them. */
export const blockBuffers = new BlockBuffers();
