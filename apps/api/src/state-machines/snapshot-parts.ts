import { MAX_PART_BLOCKS } from '@island/contracts';

/** A part holds at most this many bytes of changed blocks (and at most MAX_PART_BLOCKS blocks). */
const MAX_PART_BYTES = 256 * 1024 * 1024;
/** Parts are cut smaller, down to this size, so that a change has this many parts for workers to share. */
const MIN_PART_BYTES = 64 * 1024 * 1024;
const PARTS_TO_SHARE = 4;

/**
 * Consecutive slices of the changed blocks, even in size (82 blocks make two parts of 41, not 64 and 18, so two workers
 * finish together). Each part costs the control plane a job, a report and a transaction whatever its size, so a large
 * change goes in parts as large as MAX_PART_BYTES; a smaller one in up to PARTS_TO_SHARE parts of at least
 * MIN_PART_BYTES. A block new in this snapshot is uploaded by the part that claims it first; parts claiming the same
 * content at the same time may both send it, which is why a small change is not cut further.
 */
export function splitIntoParts(blocks: number[], blockSize: number): number[][] {
  const perPart = (bytes: number) => Math.max(1, Math.min(MAX_PART_BLOCKS, Math.floor(bytes / blockSize)));
  const fewest = Math.ceil(blocks.length / perPart(MAX_PART_BYTES));
  const count = Math.max(1, fewest, Math.min(Math.ceil(blocks.length / perPart(MIN_PART_BYTES)), PARTS_TO_SHARE));
  const parts: number[][] = [];
  for (let k = 0; k < count; k++) parts.push(blocks.slice(Math.floor((k * blocks.length) / count), Math.floor(((k + 1) * blocks.length) / count)));
  return parts;
}
