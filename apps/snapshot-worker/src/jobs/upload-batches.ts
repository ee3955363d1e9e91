/**
 * Blocks read, hashed, claimed and uploaded together; bounds memory to 2 × BATCH × block size per part.
 * A part starts with a small batch so its first PUTs leave while later blocks are still being read (a
 * small change is done sooner), then grows them fourfold to BATCH: each batch costs two catalog statements
 * (its claim and marking its uploads present), so a 64-block part spends 8 instead of the 10 of doubling.
 */
const BATCH = 32;
const FIRST_BATCH = 4;
const GROWTH = 4;

/** The part's blocks in batches of FIRST_BATCH, then GROWTH times as many each time up to BATCH. */
export function growingBatches(blocks: number[]): number[][] {
  const batches: number[][] = [];
  for (let at = 0, size = FIRST_BATCH; at < blocks.length; at += size, size = Math.min(BATCH, size * GROWTH)) batches.push(blocks.slice(at, at + size));
  return batches;
}
