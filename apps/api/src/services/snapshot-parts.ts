/** Changed blocks go to workers in parts of at most this many bytes: the unit workers share. */
const PART_BYTES = 64 * 1024 * 1024;
/**
 * A small change is still cut into up to this many parts (of at least MIN_PART_BLOCKS blocks each), so that
 * several workers share it instead of one taking nearly all of it.
 */
const MIN_PARTS = 4;
const MIN_PART_BLOCKS = 8;

/** Consecutive slices of the changed blocks, as even in size as possible. */
export function splitIntoParts(blocks: number[], blockSize: number): number[][] {
  const perPart = Math.max(1, Math.floor(PART_BYTES / blockSize));
  const count = Math.max(Math.ceil(blocks.length / perPart), Math.min(MIN_PARTS, Math.floor(blocks.length / MIN_PART_BLOCKS)), 1);
  const parts: number[][] = [];
  for (let k = 0; k < count; k++) parts.push(blocks.slice(Math.floor((k * blocks.length) / count), Math.floor(((k + 1) * blocks.length) / count)));
  return parts;
}
