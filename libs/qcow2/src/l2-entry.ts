import { InvalidImageError } from './qcow2-errors';
import { L2E_OFFSET_MASK, OFLAG_COMPRESSED, OFLAG_COPIED, OFLAG_ZERO } from './limits';

/** What one guest cluster maps to, decoded from its L2 entry. */
export type ClusterMapping =
  | { kind: 'unallocated' }
  | { kind: 'zero'; /** preallocated host cluster, 0 if none */ offset: number }
  | { kind: 'data'; offset: number; copied: boolean }
  | { kind: 'compressed'; offset: number; /** bytes of compressed data (an upper bound, sector granular) */ size: number }
  | { kind: 'subclusters'; offset: number; allocated: number; zero: number };

/** Bits of a standard L2 entry that must be zero (bits 1..8 reserved). */
const STANDARD_RESERVED = 0x1fen;

export function decodeL2Entry(entry: bigint, bitmap: bigint | undefined, clusterBits: number, version: 2 | 3, where: () => string): ClusterMapping {
  if (entry & OFLAG_COMPRESSED) {
    const offsetBits = BigInt(62 - (clusterBits - 8));
    const offset = Number(entry & ((1n << offsetBits) - 1n));
    const sectors = Number((entry >> offsetBits) & ((1n << BigInt(clusterBits - 8)) - 1n)) + 1;
    return { kind: 'compressed', offset, size: sectors * 512 - (offset % 512) };
  }
  const offset = Number(entry & L2E_OFFSET_MASK);
  if (bitmap !== undefined) {
    const allocated = Number(bitmap & 0xffffffffn);
    const zero = Number(bitmap >> 32n);
    if (allocated & zero) throw new InvalidImageError(`subcluster bitmap of ${where()}`, bitmap, 'marks subclusters both allocated and zero');
    if (allocated && offset === 0) throw new InvalidImageError(`L2 entry of ${where()}`, entry, 'has allocated subclusters but no host offset');
    return { kind: 'subclusters', offset, allocated, zero };
  }
  if (entry & STANDARD_RESERVED) throw new InvalidImageError(`L2 entry of ${where()}`, entry, 'has reserved bits set');
  if (entry & OFLAG_ZERO) {
    if (version === 2) throw new InvalidImageError(`L2 entry of ${where()}`, entry, 'has the zero flag, which v2 images do not have');
    return { kind: 'zero', offset };
  }
  if (offset === 0) return { kind: 'unallocated' };
  return { kind: 'data', offset, copied: (entry & OFLAG_COPIED) !== 0n };
}

export function encodeDataEntry(offset: number): bigint {
  return BigInt(offset) | OFLAG_COPIED;
}

/** Host clusters a compressed cluster's bytes touch (each holds one reference). */
export function compressedClusters(offset: number, size: number, clusterSize: number): number[] {
  const first = Math.floor(offset / clusterSize);
  const last = Math.floor((offset + size - 1) / clusterSize);
  const clusters = [];
  for (let c = first; c <= last; c++) clusters.push(c);
  return clusters;
}
