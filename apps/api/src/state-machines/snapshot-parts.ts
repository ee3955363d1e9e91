/** Changed blocks go to workers in parts of at most this many bytes: the unit workers share. */
const PART_BYTES = 64 * 1024 * 1024;

/**
 * Consecutive slices of the changed blocks, as few as PART_BYTES allows and even in size (82 blocks make
 * two parts of 41, not 64 and 18, so two workers finish together). A block new in this snapshot is
 * uploaded by the part that claims it first; parts claiming the same content at the same time may both
 * send it, which is why a small change is not cut further.
 */
export function splitIntoParts(blocks: number[], blockSize: number): number[][] {
  const perPart = Math.max(1, Math.floor(PART_BYTES / blockSize));
  const count = Math.max(1, Math.ceil(blocks.length / perPart));
  const parts: number[][] = [];
  for (let k = 0; k < count; k++) parts.push(blocks.slice(Math.floor((k * blocks.length) / count), Math.floor(((k + 1) * blocks.length) / count)));
  return parts;
}
