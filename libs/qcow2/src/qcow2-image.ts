import { open as openFile } from 'node:fs/promises';
import { BackingSource, openBacking } from './backing';
import { CompressedClusterReader } from './compressed-cluster';
import { hasFeature, INCOMPAT_CORRUPT, INCOMPAT_DIRTY, Qcow2Header, readHeader, requireWritableFeatures, serializeHeader } from './header';
import { ImageFile } from './image-file';
import { L2Cache } from './l2-cache';
import { ClusterMapping, compressedClusters, encodeDataEntry } from './l2-entry';
import { OFLAG_COPIED, OFLAG_ZERO } from './limits';
import { acquireWriterLock, WriterLock } from './image-lock';
import { ImageUsageError, Qcow2Error } from './qcow2-errors';
import { addReferences, computeReferences, refreshCopiedFlags } from './references';
import { Refcounts } from './refcounts';
import {
  findSnapshotEntry,
  readSnapshotTable,
  SnapshotEntry,
  SnapshotInfo,
  snapshotInfo,
  snapshotTableClusters,
  storeSnapshotTable,
} from './snapshot-table';
import { ActiveL1, ClusterTables, l1Bytes, readL1, View } from './tables';

export interface OpenOptions {
  /** Open for writing: takes the writer lock; refused on a corrupt image. */
  writable?: boolean;
}

export interface ImageInfo {
  virtualSize: number;
  clusterSize: number;
  version: 2 | 3;
  refcountBits: number;
  dirty: boolean;
  corrupt: boolean;
  backingFile: string | null;
  extendedL2: boolean;
  compressionType: 'deflate' | 'zstd';
  snapshots: SnapshotInfo[];
}

/**
 * A qcow2 image (v2 or v3). One writer at a time (enforced by a lock); snapshot clusters are never
 * modified, so readers of snapshots are safe while the writer writes. Metadata changes are cached and
 * written on flush(): refcount blocks first, then L2 tables, L1 and header, so a crash can leak clusters
 * but never leave a reference to a free one.
 */
export class Qcow2Image {
  readonly clusterSize: number;
  readonly l2Entries: number;
  readonly entryBytes: number;
  private readonly tables: ClusterTables;
  private readonly active: ActiveL1;
  private headerDirty = false;
  private readonly compressed: CompressedClusterReader;
  private closed = false;

  private constructor(
    readonly path: string,
    readonly file: ImageFile,
    readonly header: Qcow2Header,
    l1: BigUint64Array,
    readonly refcounts: Refcounts,
    private snapshotEntries: SnapshotEntry[],
    private readonly backing: BackingSource | undefined,
    readonly writable: boolean,
    private readonly lock: WriterLock | undefined,
  ) {
    this.tables = new ClusterTables(header, new L2Cache(file, refcounts, 2 ** header.clusterBits));
    this.clusterSize = this.tables.clusterSize;
    this.entryBytes = this.tables.entryBytes;
    this.l2Entries = this.tables.l2Entries;
    this.active = new ActiveL1(l1, header);
    this.compressed = new CompressedClusterReader(file, header.compressionType, this.clusterSize);
    refcounts.onTableMoved = (offset, clusters) => {
      this.header.refcountTableOffset = offset;
      this.header.refcountTableClusters = clusters;
      this.headerDirty = true;
    };
  }

  get extendedL2(): boolean {
    return this.tables.extendedL2;
  }

  static async open(path: string, options: OpenOptions = {}): Promise<Qcow2Image> {
    const writable = options.writable ?? false;
    const lock = writable ? await acquireWriterLock(path) : undefined;
    let handle;
    try {
      handle = await openFile(path, writable ? 'r+' : 'r');
    } catch (error) {
      await lock?.release();
      throw error;
    }
    try {
      const file = new ImageFile(handle, (await handle.stat()).size);
      const header = await readHeader(file);
      if (writable) requireWritableFeatures(header.incompatibleFeatures);
      const l1 = await readL1(file, header.l1TableOffset, header.l1Size, 'L1 table');
      const refcounts = await Refcounts.load(file, {
        clusterBits: header.clusterBits,
        refcountOrder: header.refcountOrder,
        tableOffset: header.refcountTableOffset,
        tableClusters: header.refcountTableClusters,
      });
      const snapshots = await readSnapshotTable(file, header);
      const backing = header.backingFile ? await openBacking(path, header, openQcow2Backing) : undefined;
      const image = new Qcow2Image(path, file, header, l1, refcounts, snapshots, backing, writable, lock);
      if (writable && header.incompatibleFeatures & INCOMPAT_DIRTY) await image.rebuildRefcounts();
      if (writable && header.autoclearFeatures) {
        // features we do not maintain (e.g. persistent bitmaps) must be marked stale before we write
        header.autoclearFeatures = 0n;
        image.headerDirty = true;
      }
      return image;
    } catch (error) {
      await handle.close();
      await lock?.release();
      throw error;
    }
  }

  get info(): ImageInfo {
    return {
      virtualSize: this.header.size,
      clusterSize: this.clusterSize,
      version: this.header.version,
      refcountBits: this.refcounts.bits,
      dirty: hasFeature(this.header.incompatibleFeatures, INCOMPAT_DIRTY),
      corrupt: hasFeature(this.header.incompatibleFeatures, INCOMPAT_CORRUPT),
      backingFile: this.header.backingFile ?? null,
      extendedL2: this.extendedL2,
      compressionType: this.header.compressionType,
      snapshots: this.snapshots(),
    };
  }

  snapshots(): SnapshotInfo[] {
    return this.snapshotEntries.map((s) => snapshotInfo(s, this.header.size));
  }

  // ---- views and mapping ------------------------------------------------------------------------

  activeView(): View {
    return this.active.view();
  }

  /** The view of a snapshot by name or id. */
  async snapshotView(nameOrId: string): Promise<View> {
    const entry = this.findSnapshot(nameOrId);
    const l1 = await readL1(this.file, entry.l1TableOffset, entry.l1Size, `L1 table of snapshot ${entry.name}`);
    return { l1, size: entry.diskSize ?? this.header.size };
  }

  findSnapshot(nameOrId: string): SnapshotEntry {
    const entry = findSnapshotEntry(this.snapshotEntries, nameOrId);
    if (!entry) throw new ImageUsageError(`no snapshot named ${JSON.stringify(nameOrId)} in ${this.path}`);
    return entry;
  }

  /** The L2 table at a host offset (cached). */
  l2Table(offset: number, what: string): Promise<Buffer> {
    return this.tables.l2Table(offset, what);
  }

  /** L2 table offset for an L1 entry, validated. */
  l2OffsetOf(l1Entry: bigint, l1Index: number): number {
    return this.tables.l2OffsetOf(l1Entry, l1Index);
  }

  /** How guest cluster `cluster` is mapped in `view`. */
  mapping(view: View, cluster: number): Promise<ClusterMapping> {
    return this.tables.mapping(view, cluster);
  }

  decode(table: Buffer, index: number, cluster: number): ClusterMapping {
    return this.tables.decode(table, index, cluster);
  }

  // ---- reading ----------------------------------------------------------------------------------

  /** Reads guest bytes of the active image, or of a snapshot. */
  async read(offset: number, length: number, snapshot?: string): Promise<Buffer> {
    const view = snapshot === undefined ? this.activeView() : await this.snapshotView(snapshot);
    return this.readView(view, offset, length);
  }

  async readView(view: View, offset: number, length: number): Promise<Buffer> {
    const out = Buffer.alloc(Math.max(0, length));
    await this.readInto(view, offset, out);
    return out;
  }

  /**
   * Reads guest bytes into `out` (all of it). Reusing one buffer for a long sequential read avoids the
   * page faults of a fresh large allocation per call, which cost more than the read itself.
   */
  async readInto(view: View, offset: number, out: Buffer): Promise<void> {
    const length = out.length;
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + length > view.size) {
      throw new ImageUsageError(`cannot read ${length} bytes at ${offset}: the image is ${view.size} bytes`);
    }
    let done = 0;
    while (done < length) {
      const guest = offset + done;
      const cluster = Math.floor(guest / this.clusterSize);
      const inCluster = guest % this.clusterSize;
      let chunk = Math.min(this.clusterSize - inCluster, length - done);
      const mapping = await this.mapping(view, cluster);
      if (mapping.kind === 'data') {
        // extend over following clusters that are contiguous on the host: one read for a sequential run
        let expectedHost = mapping.offset + this.clusterSize;
        for (let next = cluster + 1; done + chunk < length; next++, expectedHost += this.clusterSize) {
          const following = await this.mapping(view, next);
          if (following.kind !== 'data' || following.offset !== expectedHost) break;
          chunk += Math.min(this.clusterSize, length - done - chunk);
        }
        await this.file.readData(mapping.offset + inCluster, out, done, chunk);
      } else if (mapping.kind === 'compressed') {
        (await this.compressed.read(mapping.offset, mapping.size, cluster)).copy(out, done, inCluster, inCluster + chunk);
      } else if (mapping.kind === 'subclusters') {
        await this.readSubclusters(mapping, guest, out, done, chunk);
      } else if (mapping.kind === 'unallocated') {
        out.fill(0, done, done + chunk);
        await this.readBacking(guest, out, done, chunk);
      } else {
        out.fill(0, done, done + chunk);
      }
      done += chunk;
    }
  }

  private async readSubclusters(m: Extract<ClusterMapping, { kind: 'subclusters' }>, guest: number, out: Buffer, at: number, length: number) {
    const sub = this.clusterSize / 32;
    let done = 0;
    while (done < length) {
      const inCluster = (guest + done) % this.clusterSize;
      const index = Math.floor(inCluster / sub);
      const chunk = Math.min(sub - (inCluster % sub), length - done);
      if (m.allocated & (1 << index)) {
        await this.file.readData(m.offset + inCluster, out, at + done, chunk);
      } else {
        out.fill(0, at + done, at + done + chunk);
        if (!(m.zero & (1 << index))) await this.readBacking(guest + done, out, at + done, chunk);
      }
      done += chunk;
    }
  }

  private async readBacking(guest: number, out: Buffer, at: number, length: number): Promise<void> {
    if (!this.backing || guest >= this.backing.size) return;
    const n = Math.min(length, this.backing.size - guest);
    (await this.backing.read(guest, n)).copy(out, at);
  }

  // ---- writing ----------------------------------------------------------------------------------

  private requireWritable(): void {
    if (!this.writable) throw new ImageUsageError(`${this.path} is open read-only`);
    if (this.closed) throw new ImageUsageError(`${this.path} is closed`);
  }

  /** Writes guest bytes to the active image; whole clusters of zeros become zero clusters (v3). */
  async write(offset: number, data: Buffer): Promise<void> {
    this.requireWritable();
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + data.length > this.header.size) {
      throw new ImageUsageError(`cannot write ${data.length} bytes at ${offset}: the image is ${this.header.size} bytes`);
    }
    let done = 0;
    while (done < data.length) {
      const guest = offset + done;
      const cluster = Math.floor(guest / this.clusterSize);
      const inCluster = guest % this.clusterSize;
      if (inCluster === 0 && data.length - done >= this.clusterSize) {
        // a run of whole clusters inside one L2 table: allocate them together, write them with one call
        const l2Left = this.l2Entries - (cluster % this.l2Entries);
        const count = Math.min(l2Left, Math.floor((data.length - done) / this.clusterSize));
        await this.writeWholeClusters(cluster, data.subarray(done, done + count * this.clusterSize));
        done += count * this.clusterSize;
        continue;
      }
      const chunk = Math.min(this.clusterSize - inCluster, data.length - done);
      await this.writePartialCluster(cluster, inCluster, data.subarray(done, done + chunk));
      done += chunk;
    }
  }

  /** Makes guest bytes read as zero; whole clusters become zero clusters (v3) or unallocated (v2, no backing). */
  async writeZeroes(offset: number, length: number): Promise<void> {
    this.requireWritable();
    if (offset + length > this.header.size) throw new ImageUsageError(`cannot zero ${length} bytes at ${offset}: the image is ${this.header.size} bytes`);
    let done = 0;
    while (done < length) {
      const guest = offset + done;
      const inCluster = guest % this.clusterSize;
      const chunk = Math.min(this.clusterSize - inCluster, length - done);
      if (chunk === this.clusterSize && this.canMarkZero()) await this.setZeroCluster(Math.floor(guest / this.clusterSize));
      else await this.write(guest, Buffer.alloc(chunk));
      done += chunk;
    }
  }

  private canMarkZero(): boolean {
    return this.header.version === 3 || !this.backing;
  }

  private async writeWholeClusters(first: number, data: Buffer): Promise<void> {
    const count = data.length / this.clusterSize;
    const { table, l2Offset } = await this.writableL2(first);
    const fresh: number[] = [];
    for (let i = 0; i < count; i++) {
      const slice = data.subarray(i * this.clusterSize, (i + 1) * this.clusterSize);
      const index = (first + i) % this.l2Entries;
      const mapping = this.decode(table, index, first + i);
      if (isZero(slice) && this.canMarkZero()) {
        await this.setEntry(table, l2Offset, index, this.header.version === 3 ? OFLAG_ZERO : 0n);
        await this.releaseMapping(mapping);
      } else if (mapping.kind === 'data' && mapping.copied) {
        await this.file.write(mapping.offset, slice);
      } else {
        fresh.push(i);
      }
    }
    // clusters needing new space: allocate contiguous runs and write each run at once
    for (let r = 0; r < fresh.length; ) {
      let n = 1;
      while (r + n < fresh.length && fresh[r + n] === fresh[r] + n) n++;
      const host = await this.refcounts.allocate(n);
      await this.file.write(host, data.subarray(fresh[r] * this.clusterSize, (fresh[r] + n) * this.clusterSize));
      for (let k = 0; k < n; k++) {
        const index = (first + fresh[r] + k) % this.l2Entries;
        const old = this.decode(table, index, first + fresh[r] + k);
        await this.setEntry(table, l2Offset, index, encodeDataEntry(host + k * this.clusterSize));
        await this.releaseMapping(old);
      }
      r += n;
    }
  }

  private async writePartialCluster(cluster: number, inCluster: number, data: Buffer): Promise<void> {
    const { table, l2Offset } = await this.writableL2(cluster);
    const index = cluster % this.l2Entries;
    const mapping = this.decode(table, index, cluster);
    if (mapping.kind === 'data' && mapping.copied) {
      await this.file.write(mapping.offset + inCluster, data);
      return;
    }
    // copy on write: the cluster's current guest content, with the new bytes over it
    const content = await this.readView(this.activeView(), cluster * this.clusterSize, Math.min(this.clusterSize, this.header.size - cluster * this.clusterSize));
    const full = Buffer.alloc(this.clusterSize);
    content.copy(full);
    data.copy(full, inCluster);
    const host = await this.refcounts.allocate(1);
    await this.file.write(host, full);
    await this.setEntry(table, l2Offset, index, encodeDataEntry(host));
    await this.releaseMapping(mapping);
  }

  private async setZeroCluster(cluster: number): Promise<void> {
    const { table, l2Offset } = await this.writableL2(cluster);
    const index = cluster % this.l2Entries;
    const old = this.decode(table, index, cluster);
    await this.setEntry(table, l2Offset, index, this.header.version === 3 ? OFLAG_ZERO : 0n);
    await this.releaseMapping(old);
  }

  /** Drops the reference an L2 entry held (after the entry was replaced). */
  private async releaseMapping(mapping: ClusterMapping): Promise<void> {
    if ((mapping.kind === 'data' || mapping.kind === 'zero' || mapping.kind === 'subclusters') && mapping.offset) {
      await this.refcounts.release(mapping.offset);
    } else if (mapping.kind === 'compressed') {
      for (const c of compressedClusters(mapping.offset, mapping.size, this.clusterSize)) await this.refcounts.change(c, -1);
    }
  }

  private async setEntry(table: Buffer, l2Offset: number, index: number, entry: bigint): Promise<void> {
    table.writeBigUInt64BE(entry, index * this.entryBytes);
    await this.tables.cache.markDirty(l2Offset, table);
  }

  /** The L2 table covering `cluster` in the active image, allocated or copied so that it may be modified. */
  private async writableL2(cluster: number): Promise<{ table: Buffer; l2Offset: number }> {
    const l1Index = Math.floor(cluster / this.l2Entries);
    const l1Entry = this.active.entries[l1Index];
    const current = this.l2OffsetOf(l1Entry, l1Index);
    if (current && l1Entry & OFLAG_COPIED) return { table: await this.l2Table(current, 'L2 table'), l2Offset: current };
    const l2Offset = await this.refcounts.allocate(1);
    const table = current ? Buffer.from(await this.l2Table(current, 'L2 table')) : Buffer.alloc(this.clusterSize);
    await this.tables.cache.put(l2Offset, table, true);
    this.active.set(l1Index, BigInt(l2Offset) | OFLAG_COPIED);
    if (current) await this.refcounts.release(current);
    return { table, l2Offset };
  }

  // ---- metadata write-back ----------------------------------------------------------------------

  async flush(): Promise<void> {
    if (!this.writable) return;
    await this.refcounts.flush();
    await this.tables.cache.writeBack();
    if (this.active.dirty) {
      await this.file.write(this.header.l1TableOffset, l1Bytes(this.active.entries, this.clusterSize));
      this.active.dirty = false;
    }
    if (this.headerDirty) {
      await this.file.write(0, serializeHeader(this.header));
      this.headerDirty = false;
    }
    await this.refcounts.flush();
    await this.file.sync();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await this.flush();
    } finally {
      this.closed = true;
      await this.backing?.close();
      await this.file.handle.close();
      await this.lock?.release();
    }
  }

  // ---- structure changes used by snapshots, resize and check ------------------------------------

  /** Adds `delta` to the refcount of every L2 table and cluster reachable from `l1`. */
  addReferences(l1: BigUint64Array, delta: 1 | -1): Promise<void> {
    return addReferences(this.tables, this.refcounts, l1, delta);
  }

  /** Sets the COPIED flag exactly where the refcount is 1, in the active L1 and its L2 tables. */
  refreshCopiedFlags(): Promise<void> {
    return refreshCopiedFlags(this.tables, this.refcounts, this.active);
  }

  /** Writes an L1 table into newly allocated clusters; returns its offset. */
  async writeNewL1(l1: BigUint64Array): Promise<number> {
    const bytes = l1Bytes(l1, this.clusterSize);
    const offset = bytes.length ? await this.refcounts.allocate(bytes.length / this.clusterSize) : 0;
    if (bytes.length) await this.file.write(offset, bytes);
    return offset;
  }

  async releaseL1(offset: number, entries: number): Promise<void> {
    if (entries > 0) await this.refcounts.release(offset, Math.ceil((entries * 8) / this.clusterSize));
  }

  /** Rewrites the snapshot table in new clusters and points the header at it. */
  async writeSnapshotTable(entries: SnapshotEntry[]): Promise<void> {
    const old = { offset: this.header.snapshotsOffset, count: this.snapshotEntries.length, clusters: snapshotTableClusters(this.snapshotEntries, this.clusterSize) };
    const offset = await storeSnapshotTable(this.file, this.refcounts, entries);
    await this.flush(); // refcounts and tables on disk before the header names the new table
    this.snapshotEntries = entries;
    this.header.snapshotsOffset = offset;
    this.header.nbSnapshots = entries.length;
    this.headerDirty = true;
    await this.flush();
    if (old.count > 0 && old.offset) await this.refcounts.release(old.offset, old.clusters);
  }

  get snapshotList(): readonly SnapshotEntry[] {
    return this.snapshotEntries;
  }

  /** Replaces the active L1 table (revert, grow), writing it to new clusters when its size changes. */
  async replaceActiveL1(l1: BigUint64Array): Promise<void> {
    if (l1.length !== this.active.entries.length) {
      const offset = await this.writeNewL1(l1);
      const old = { offset: this.header.l1TableOffset, size: this.header.l1Size };
      this.active.entries = l1;
      this.header.l1TableOffset = offset;
      this.header.l1Size = l1.length;
      this.headerDirty = true;
      await this.flush();
      await this.releaseL1(old.offset, old.size);
    } else {
      this.active.entries = l1;
      this.active.dirty = true;
    }
  }

  setVirtualSize(size: number): void {
    this.header.size = size;
    this.headerDirty = true;
  }

  /** Rewrites refcounts from what the metadata references (dirty images, check --repair of errors). */
  async rebuildRefcounts(): Promise<void> {
    const { counts, clusters } = await computeReferences(this);
    await this.refcounts.overwriteAll(counts, Math.max(clusters, this.refcounts.fileClusters));
    this.header.incompatibleFeatures &= ~INCOMPAT_DIRTY;
    this.headerDirty = true;
    await this.flush();
  }

  assertOpen(): void {
    if (this.closed) throw new Qcow2Error(`${this.path} is closed`);
  }
}

function isZero(buf: Buffer): boolean {
  for (let i = 0; i < buf.length; i += 8192) {
    const end = Math.min(buf.length, i + 8192);
    for (let j = i; j < end; j++) if (buf[j] !== 0) return false;
  }
  return true;
}

/** A qcow2 backing file is itself an image, opened read-only. */
async function openQcow2Backing(path: string): Promise<BackingSource> {
  const image = await Qcow2Image.open(path);
  return { size: image.header.size, read: (o, l) => image.read(o, l), close: () => image.close() };
}
