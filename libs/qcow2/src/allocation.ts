import { ImageFile } from './image-file';
import { ClusterMapping, compressedClusters, encodeDataEntry } from './l2-entry';
import { OFLAG_COPIED, OFLAG_ZERO } from './limits';
import { Qcow2Error, hex } from './qcow2-errors';
import { Refcounts } from './refcounts';
import { ActiveL1, ClusterTables, l1Bytes } from './tables';

/**
 * Where the active image's new clusters come from. An L2 table or data cluster that a snapshot shares
 * (no COPIED flag) is never written in place: it is copied to a new cluster and the shared one loses a
 * reference. A replaced entry's old reference is dropped only after the new entry is set.
 */
export class ClusterAllocator {
  constructor(
    private readonly file: ImageFile,
    private readonly refcounts: Refcounts,
    private readonly tables: ClusterTables,
    private readonly active: ActiveL1,
    private readonly version: 2 | 3,
  ) {}

  /** The L2 table covering `cluster` in the active image, allocated or copied so that it may be modified. */
  async writableL2(cluster: number): Promise<{ table: Buffer; l2Offset: number }> {
    const l1Index = Math.floor(cluster / this.tables.l2Entries);
    const l1Entry = this.active.entries[l1Index];
    const current = this.tables.l2OffsetOf(l1Entry, l1Index);
    if (current && l1Entry & OFLAG_COPIED) return { table: await this.tables.l2Table(current, 'L2 table'), l2Offset: current };
    const l2Offset = await this.refcounts.allocate(1);
    const table = current ? Buffer.from(await this.tables.l2Table(current, 'L2 table')) : Buffer.alloc(this.tables.clusterSize);
    await this.tables.cache.put(l2Offset, table, true);
    this.active.set(l1Index, BigInt(l2Offset) | OFLAG_COPIED);
    if (current) await this.refcounts.release(current);
    return { table, l2Offset };
  }

  async setEntry(table: Buffer, l2Offset: number, index: number, entry: bigint): Promise<void> {
    table.writeBigUInt64BE(entry, index * this.tables.entryBytes);
    await this.tables.cache.markDirty(l2Offset, table);
  }

  /** Drops the reference an L2 entry held (after the entry was replaced). */
  async releaseMapping(mapping: ClusterMapping): Promise<void> {
    if ((mapping.kind === 'data' || mapping.kind === 'zero' || mapping.kind === 'subclusters') && mapping.offset) {
      await this.refcounts.release(mapping.offset);
    } else if (mapping.kind === 'compressed') {
      for (const c of compressedClusters(mapping.offset, mapping.size, this.tables.clusterSize)) await this.refcounts.release(c * this.tables.clusterSize);
    }
  }

  /** Makes the entry read as zeros: the zero flag (v3), or unallocated (v2, whose callers have no backing file). */
  async markZero(table: Buffer, l2Offset: number, index: number, old: ClusterMapping): Promise<void> {
    await this.setEntry(table, l2Offset, index, this.version === 3 ? OFLAG_ZERO : 0n);
    await this.releaseMapping(old);
  }

  async setZeroCluster(cluster: number): Promise<void> {
    const { table, l2Offset } = await this.writableL2(cluster);
    const index = cluster % this.tables.l2Entries;
    await this.markZero(table, l2Offset, index, this.tables.decode(table, index, cluster));
  }

  /**
   * Writes `data` (whole clusters for guest clusters `first`…, all in `table`) to newly allocated,
   * contiguous clusters and points the entries at them.
   */
  async writeToNewClusters(table: Buffer, l2Offset: number, first: number, data: Buffer): Promise<void> {
    const count = data.length / this.tables.clusterSize;
    const host = await this.refcounts.allocate(count);
    await this.file.writeData(host, data);
    for (let k = 0; k < count; k++) {
      const index = (first + k) % this.tables.l2Entries;
      const old = this.tables.decode(table, index, first + k);
      await this.setEntry(table, l2Offset, index, encodeDataEntry(host + k * this.tables.clusterSize));
      await this.releaseMapping(old);
    }
  }

  /**
   * Moves the active L2 table at `offset` to a new cluster: the active L1 entry follows it and the old cluster
   * loses the reference (a snapshot may keep it). Returns the new offset; the caller writes the table there.
   */
  async moveL2Table(offset: number): Promise<number> {
    const l1Index = this.active.indexOfTable(offset);
    if (l1Index === undefined) throw new Qcow2Error(`L2 table ${hex(offset)} changed but the active L1 table does not reference it`);
    const moved = await this.refcounts.allocate(1);
    this.active.set(l1Index, BigInt(moved) | OFLAG_COPIED);
    await this.refcounts.release(offset);
    return moved;
  }

  /** Writes an L1 table into newly allocated clusters; returns its offset. */
  async writeNewL1(l1: BigUint64Array): Promise<number> {
    const bytes = l1Bytes(l1, this.tables.clusterSize);
    const offset = bytes.length ? await this.refcounts.allocate(bytes.length / this.tables.clusterSize) : 0;
    if (bytes.length) await this.file.write(offset, bytes);
    return offset;
  }

  async releaseL1(offset: number, entries: number): Promise<void> {
    if (entries > 0) await this.refcounts.release(offset, Math.ceil((entries * 8) / this.tables.clusterSize));
  }
}
