/**
 * Blocks read, hashed, claimed and uploaded together. A part starts with a small batch so its first PUTs leave while
 * later blocks are still being read (a small change is done sooner), then grows them fourfold up to BATCH: each batch
 * costs two catalog statements (its claim and marking its uploads present), so a 64-block part spends 8 instead of
 * the 10 of doubling. A batch holds at most BATCH_BYTES of blocks: with 1 MiB blocks, 32 of them; with 4 MiB, 8 — so
 * a part's two batches in flight fit in the process's block memory budget (blockMemory, 64 MiB) whatever the block
 * size, and their reservation is the memory they hold.
 */
const BATCH = 32;
const FIRST_BATCH = 4;
const GROWTH = 4;
export const BATCH_BYTES = 32 * 1024 * 1024;

/** The part's blocks in batches of FIRST_BATCH, then GROWTH times as many each time up to BATCH, none over BATCH_BYTES. */
export function growingBatches(blocks: number[], blockSize: number): number[][] {
  const largest = Math.max(1, Math.min(BATCH, Math.floor(BATCH_BYTES / blockSize)));
  const batches: number[][] = [];
  for (let at = 0, size = Math.min(FIRST_BATCH, largest); at < blocks.length; at += size, size = Math.min(largest, size * GROWTH)) {
    batches.push(blocks.slice(at, at + size));
  }
  return batches;
}
