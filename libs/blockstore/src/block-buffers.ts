import { droppedBuffers } from '@island/platform';
import { DIRECT_WRITE_ALIGNMENT } from '@island/qcow2';
import { nativeAddon } from './crypto/native-addon';

/**
 * The boundary lent memory starts at (where island's addon can tell an address): what a write past the page cache needs,
 * so that a restore can write its blocks so (Qcow2 OpenOptions.directDataWrites).
 */
export const BLOCK_MEMORY_ALIGNMENT = DIRECT_WRITE_ALIGNMENT;

/**
 * Reusable memory for block-sized bodies (a block read from an image, a block object arriving from Swift, a sealed
 * block's ciphertext until Swift has it, an opened block until the restore wrote it).
 *
 * Every 1 MiB Buffer is memory outside V8's heap; V8 answers each ~64 MiB of such memory that outlives a scavenge with
 * a full collection, which cost a worker ~1.8 CPU-s per GiB restored (docs/performance.md, "Block memory that lives a
 * while"). Bodies handed back here are lent out again instead. A body is given back only by the code that took it, once nothing reads it any more;
 * one that is never given back (an error path) is simply collected.
 */
export class BlockBuffers {
  /**
   * Free memory by size class: lengths plus FRAMING_BYTES are rounded up to a multiple of CLASS_BYTES, so odd lengths,
   * a block and its sealed object (the block plus a header and tag) share memory.
   */
  private readonly free = new Map<number, ArrayBuffer[]>();
  private freeBytes = 0;
  /** Memory lent out and not yet given back, with the Buffer it went out as: only that Buffer brings it back, once. */
  private readonly lent = new WeakMap<ArrayBuffer, Buffer>();

  /**
   * @param maxFreeBytes memory kept for reuse at most; what is given back beyond it is left to the collector.
   * @param minBytes smaller bodies are not worth keeping (Node allocates those from its own slab).
   */
  constructor(
    readonly maxFreeBytes = 64 * 1024 * 1024,
    readonly minBytes = 64 * 1024,
  ) {}

  /**
   * A Buffer of exactly `length` bytes, contents undefined (like Buffer.allocUnsafe), in the smallest free memory large
   * enough: compressed objects come in every length, and memory one length gave back would otherwise wait for that
   * length while the next ones allocated more.
   */
  take(length: number): Buffer {
    if (length < this.minBytes) return Buffer.allocUnsafe(length);
    const memory = this.reuse(sizeClass(length)) ?? (Buffer.allocUnsafeSlow(sizeClass(length)).buffer as ArrayBuffer);
    const body = Buffer.from(memory, alignedStart(memory), length);
    this.lent.set(memory, body);
    return body;
  }

  /** Free memory of the smallest class at least `size`, off its list. */
  private reuse(size: number): ArrayBuffer | undefined {
    let best: number | undefined;
    for (const [classSize, list] of this.free) if (classSize >= size && list.length > 0 && (best === undefined || classSize < best)) best = classSize;
    if (best === undefined) return undefined;
    this.freeBytes -= best;
    return this.free.get(best)?.pop();
  }

  /**
   * Memory for bytes copied out of Buffers Node allocated itself (a body's socket chunks), which are garbage once it is
   * filled: counted as dropped (droppedBuffers), since memory allocated and kept for a while drives full collections.
   */
  takeForCopiedBytes(length: number): Buffer {
    droppedBuffers.add(length);
    return this.take(length);
  }

  /**
   * Gives a body back for reuse: only the very Buffer `take` returned, once, by its owner, who keeps no
   * view of it in use. Anything else is ignored: memory not lent here, a view of it, or a body given back again
   * (even after its memory went out again as another Buffer, whose owner it now is).
   */
  giveBack(body: Buffer): void {
    const memory = body.buffer;
    if (!(memory instanceof ArrayBuffer) || this.lent.get(memory) !== body) return;
    this.lent.delete(memory);
    const size = memory.byteLength;
    if (this.freeBytes + size > this.maxFreeBytes) return;
    const list = this.free.get(size) ?? [];
    list.push(memory);
    this.free.set(size, list);
    this.freeBytes += size;
  }

  /** Bytes held for reuse now. */
  get heldBytes(): number {
    return this.freeBytes;
  }
}

const CLASS_BYTES = 64 * 1024;
/**
 * Room for an object's framing over its block, and for starting a body at an aligned address (BLOCK_MEMORY_ALIGNMENT).
 * Without it a 1 MiB block and its sealed object (1 MiB + 40 bytes) fell in two classes, and a worker kept free memory
 * of both: what a snapshot left in one a restore or copy did not reuse.
 */
const FRAMING_BYTES = BLOCK_MEMORY_ALIGNMENT;

/** The first aligned byte of `memory` (less than FRAMING_BYTES in), or its start where the addon is not built. */
function alignedStart(memory: ArrayBuffer): number {
  return nativeAddon ? nativeAddon.bytesToAlignment(memory, BLOCK_MEMORY_ALIGNMENT) : 0;
}

/**
 * Whether a Buffer's memory starts at a multiple of BLOCK_MEMORY_ALIGNMENT (as blockBuffers lends it where island's
 * addon is built); undefined where no address can be known.
 */
export const blockMemoryAligned: ((buffer: Buffer) => boolean) | undefined = addressesKnown(nativeAddon);

function addressesKnown(addon: typeof nativeAddon): ((buffer: Buffer) => boolean) | undefined {
  return addon && ((buffer) => addon.bytesToAlignment(buffer, BLOCK_MEMORY_ALIGNMENT) === 0);
}

function sizeClass(length: number): number {
  return Math.ceil((length + FRAMING_BYTES) / CLASS_BYTES) * CLASS_BYTES;
}

/** The process's block bodies: the upload, restore and copy paths share them. */
export const blockBuffers = new BlockBuffers();
