import { BlockBuffers } from './block-buffers';

/**
 * Who holds each block fetched into memory lent from a BlockBuffers pool (a cache keeping it, each write or reply
 * using it), so that the memory goes back to the pool when the last holder lets go and the next GET reuses it instead of
 * new memory (block memory kept for a while and then dropped is what drives full collections: docs/performance.md).
 * A holder takes its hold before any other can let go (RecentBlocks runs what it forgets after every caller's own
 * reaction to the block).
 */
export class HeldBlocks {
  private readonly holders = new Map<Buffer, number>();

  /** @param onLastRelease told of each block once its last holder let go (its memory is back in the pool). */
  constructor(
    private readonly buffers: BlockBuffers,
    private readonly onLastRelease?: (block: Buffer) => void,
  ) {}

  hold(block: Buffer): void {
    this.holders.set(block, (this.holders.get(block) ?? 0) + 1);
  }

  /** One holder lets go; the last one gives the memory back. A block nobody holds is ignored. */
  release(block: Buffer): void {
    const left = this.holders.get(block);
    if (left === undefined) return;
    if (left > 1) {
      this.holders.set(block, left - 1);
    } else {
      this.holders.delete(block);
      this.buffers.giveBack(block);
      this.onLastRelease?.(block);
    }
  }

  /** Blocks some holder still has. */
  get held(): number {
    return this.holders.size;
  }
}
