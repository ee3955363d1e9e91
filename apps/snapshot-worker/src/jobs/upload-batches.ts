/**
 * Blocks read, hashed, claimed and uploaded together; bounds memory to 2 × BATCH × block size per part.
 * A part starts with small batches so its first PUTs leave while later blocks are still being read (a
 * small change is done sooner), then grows them to BATCH to spend fewer catalog transactions per block.
 */
const BATCH = 32;
const FIRST_BATCH = 4;

/** The part's blocks in batches of FIRST_BATCH, then twice as many each time up to BATCH. */
export function growingBatches(blocks: number[]): number[][] {
  const batches: number[][] = [];
  for (let at = 0, size = FIRST_BATCH; at < blocks.length; at += size, size = Math.min(BATCH, size * 2)) batches.push(blocks.slice(at, at + size));
  return batches;
}
