import { hasFeature, INCOMPAT_EXTL2, Qcow2Header } from './header';
import { ImageFile } from './image-file';
import { L2Cache } from './l2-cache';
import { ClusterMapping, compressedClusters, decodeL2Entry } from './l2-entry';
import { L1E_OFFSET_MASK, MAX_L1_BYTES, MAX_OFFSET } from './limits';
import { InvalidImageError, hex } from './qcow2-errors';

/** A point in time to read or compare: the active image or one internal snapshot. */
export interface View {
  l1: BigUint64Array;
  size: number;
}

/** Finding a guest cluster's L2 entry. ClusterTables does it; Qcow2Image offers the same methods. */
export interface TableLookup {
  readonly clusterSize: number;
  readonly l2Entries: number;
  l2OffsetOf(l1Entry: bigint, l1Index: number): number;
  l2Table(offset: number, what: string): Promise<Buffer>;
  decode(table: Buffer, index: number, cluster: number): ClusterMapping;
}

/** L1 entry bits that must be zero: 56..62 and 0..8. */
const L1_RESERVED = 0x7f000000000001ffn;

/** The active image's L1 table: changed in memory, written back on flush. */
export class ActiveL1 {
  dirty = false;
  /** L1 index by L2 table offset, built when first asked for. */
  private byTable: Map<number, number> | undefined;

  constructor(
    private l1: BigUint64Array,
    private readonly header: Qcow2Header,
  ) {}

  get entries(): BigUint64Array {
    return this.l1;
  }

  view(): View {
    return { l1: this.l1, size: this.header.size };
  }

  set(index: number, entry: bigint): void {
    this.byTable?.delete(Number(this.l1[index] & L1E_OFFSET_MASK));
    this.l1[index] = entry;
    this.byTable?.set(Number(entry & L1E_OFFSET_MASK), index);
    this.dirty = true;
  }

  /** Replaces the whole table; the caller says whether it still has to be written. */
  replace(l1: BigUint64Array, dirty: boolean): void {
    this.l1 = l1;
    this.byTable = undefined;
    this.dirty = dirty;
  }

  /** The index of the entry naming the L2 table at `offset`, if one does. */
  indexOfTable(offset: number): number | undefined {
    if (!this.byTable) {
      const byTable = new Map<number, number>();
      this.l1.forEach((entry, i) => byTable.set(Number(entry & L1E_OFFSET_MASK), i));
      this.byTable = byTable;
    }
    return this.byTable.get(offset);
  }
}

/** L1/L2 lookup: from a guest cluster to its L2 table and entry, every offset validated on the way. */
export class ClusterTables implements TableLookup {
  readonly clusterSize: number;
  readonly extendedL2: boolean;
  readonly entryBytes: number;
  readonly l2Entries: number;

  constructor(
    private readonly header: Qcow2Header,
    readonly cache: L2Cache,
  ) {
    this.clusterSize = 2 ** header.clusterBits;
    this.extendedL2 = hasFeature(header.incompatibleFeatures, INCOMPAT_EXTL2);
    this.entryBytes = this.extendedL2 ? 16 : 8;
    this.l2Entries = this.clusterSize / this.entryBytes;
  }

  l2Table(offset: number, what: string): Promise<Buffer> {
    return this.cache.get(offset, what);
  }

  /** L2 table offset for an L1 entry, validated. */
  l2OffsetOf(l1Entry: bigint, l1Index: number): number {
    if (l1Entry & L1_RESERVED) throw new InvalidImageError(`L1 entry ${l1Index}`, l1Entry, 'has reserved bits set');
    const offset = Number(l1Entry & L1E_OFFSET_MASK);
    if (offset % this.clusterSize !== 0) throw new InvalidImageError(`L2 table offset (L1 entry ${l1Index})`, offset, 'is not cluster aligned');
    return offset;
  }

  /** How guest cluster `cluster` is mapped in `view`. */
  async mapping(view: View, cluster: number): Promise<ClusterMapping> {
    const l1Index = Math.floor(cluster / this.l2Entries);
    if (l1Index >= view.l1.length) return { kind: 'unallocated' };
    const l2Offset = this.l2OffsetOf(view.l1[l1Index], l1Index);
    if (l2Offset === 0) return { kind: 'unallocated' };
    const table = await this.l2Table(l2Offset, `L2 table for guest offset ${hex(cluster * this.clusterSize)}`);
    return this.decode(table, cluster % this.l2Entries, cluster);
  }

  decode(table: Buffer, index: number, cluster: number): ClusterMapping {
    const at = index * this.entryBytes;
    const entry = table.readBigUInt64BE(at);
    const bitmap = this.extendedL2 ? table.readBigUInt64BE(at + 8) : undefined;
    const mapping = decodeL2Entry(entry, bitmap, this.header.clusterBits, this.header.version, () => `guest offset ${hex(cluster * this.clusterSize)}`);
    if ((mapping.kind === 'data' || mapping.kind === 'subclusters' || (mapping.kind === 'zero' && mapping.offset)) && mapping.offset % this.clusterSize) {
      throw new InvalidImageError(`data cluster offset (guest offset ${hex(cluster * this.clusterSize)})`, mapping.offset, 'is not cluster aligned');
    }
    if (mapping.kind === 'data' && mapping.offset > MAX_OFFSET - this.clusterSize) {
      throw new InvalidImageError('data cluster offset', mapping.offset, 'is too large');
    }
    return mapping;
  }

  /**
   * The host clusters an L2 table references, with the entries referencing them: data clusters and
   * preallocated zero clusters; with `all`, also compressed clusters and subcluster allocations (the ones
   * holding references). Plain data entries — nearly all of them — are decoded from two 32-bit words; any
   * other entry goes through the full decoder and its checks. Typed arrays, not lists: a take or drop of a
   * point in time goes through every allocated cluster of the image.
   */
  hostClusters(table: Buffer, l1Index: number, all: boolean): HostClusters {
    let entries = new Uint32Array(this.l2Entries);
    let clusters = new Float64Array(this.l2Entries);
    let n = 0;
    for (let j = 0; j < this.l2Entries; j++) {
      const plain = this.plainOffset(table, j);
      if (plain === 0) continue; // unallocated
      if (plain > 0) {
        entries[n] = j;
        clusters[n++] = plain / this.clusterSize;
        continue;
      }
      const mapping = this.decode(table, j, l1Index * this.l2Entries + j);
      if ((mapping.kind === 'data' || mapping.kind === 'zero' || (all && mapping.kind === 'subclusters')) && mapping.offset) {
        entries[n] = j;
        clusters[n++] = mapping.offset / this.clusterSize;
      } else if (all && mapping.kind === 'compressed') {
        const spanned = compressedClusters(mapping.offset, mapping.size, this.clusterSize);
        if (n + spanned.length > clusters.length) {
          // a compressed cluster's bytes may straddle host clusters: more references than entries
          const capacity = 2 * clusters.length + spanned.length;
          entries = grown(entries, new Uint32Array(capacity));
          clusters = grown(clusters, new Float64Array(capacity));
        }
        for (const c of spanned) {
          entries[n] = j;
          clusters[n++] = c;
        }
      }
    }
    return { entries: entries.subarray(0, n), clusters: clusters.subarray(0, n) };
  }

  /**
   * The data clusters of an L2 table (the entries `decode` calls 'data'), each with its COPIED flag (1: set): what the
   * check compares with refcounts. Plain entries are decoded from two 32-bit words, any other by the full decoder.
   */
  dataClusters(table: Buffer, l1Index: number): { clusters: Float64Array; copied: Uint8Array } {
    const clusters = new Float64Array(this.l2Entries);
    const copied = new Uint8Array(this.l2Entries);
    let n = 0;
    for (let j = 0; j < this.l2Entries; j++) {
      const at = j * this.entryBytes;
      const plain = this.plainOffset(table, j);
      if (plain === 0) continue;
      const mapping = plain > 0 ? undefined : this.decode(table, j, l1Index * this.l2Entries + j);
      if (mapping && mapping.kind !== 'data') continue;
      copied[n] = table[at] >>> 7; // bit 63
      clusters[n++] = (mapping?.offset ?? plain) / this.clusterSize;
    }
    return { clusters: clusters.subarray(0, n), copied: copied.subarray(0, n) };
  }

  /**
   * Entry `j`'s host offset when it is a plain data entry — standard, not compressed, zero flag and reserved bits clear,
   * aligned, within the offsets an image may have — 0 when it has no host offset and no flag the decoder must see
   * (unallocated), else -1: the full decoder must read it.
   */
  private plainOffset(table: Buffer, j: number): number {
    if (this.extendedL2) return -1;
    const at = j * this.entryBytes;
    const hi = ((table[at] << 24) | (table[at + 1] << 16) | (table[at + 2] << 8) | table[at + 3]) >>> 0;
    const lo = ((table[at + 4] << 24) | (table[at + 5] << 16) | (table[at + 6] << 8) | table[at + 7]) >>> 0;
    // bits 0 (zero flag), 1..8 (reserved) and, for an aligned offset, every bit below the cluster size are clear
    if ((hi & 0x40000000) !== 0 || (lo & (this.clusterSize - 1)) !== 0) return -1;
    const offset = (hi & 0x00ffffff) * 0x100000000 + lo;
    return offset <= MAX_OFFSET - this.clusterSize ? offset : -1;
  }
}

function grown<T extends Uint32Array | Float64Array>(from: T, to: T): T {
  to.set(from);
  return to;
}

/** Host clusters of an L2 table (see ClusterTables.hostClusters): `clusters[k]` is referenced by entry `entries[k]`. */
export interface HostClusters {
  entries: Uint32Array;
  clusters: Float64Array;
}

export async function readL1(file: ImageFile, offset: number, size: number, what: string): Promise<BigUint64Array> {
  if (size * 8 > MAX_L1_BYTES) throw new InvalidImageError(`${what} size`, size, 'is too large');
  const raw = size ? await file.readExact(offset, size * 8, what) : Buffer.alloc(0);
  const l1 = new BigUint64Array(size);
  for (let i = 0; i < size; i++) l1[i] = raw.readBigUInt64BE(i * 8);
  return l1;
}

/** An L1 table as stored: big-endian entries, padded to whole clusters. */
export function l1Bytes(l1: BigUint64Array, clusterSize: number): Buffer {
  const bytes = Buffer.alloc(Math.ceil((l1.length * 8) / clusterSize) * clusterSize);
  l1.forEach((e, i) => bytes.writeBigUInt64BE(e, i * 8));
  return bytes;
}
