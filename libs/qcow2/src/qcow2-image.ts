import { ClusterAllocator } from './allocation';
import { BackingSource, openBacking } from './backing';
import { GuestReader } from './guest-read';
import { GuestWriter } from './guest-write';
import { hasFeature, INCOMPAT_CORRUPT, INCOMPAT_DIRTY, Qcow2Header, readHeader, requireWritableFeatures } from './header';
import { DirectWrites, ImageFile, OpenFileIo, openNodeFile, refusesDirect } from './image-file';
import { acquireWriterLock, WriterLock } from './image-lock';
import { L2Cache } from './l2-cache';
import { ClusterMapping } from './l2-entry';
import { MetadataWriter } from './metadata-writer';
import { ImageUsageError, Qcow2Error } from './qcow2-errors';
import { setCopiedFlagsAfterDrop, SingleReferences } from './copied-after-drop';
import { addReferences, clearCopiedFlags, computeReferences, refreshCopiedFlags } from './references';
import { ReferenceWindow } from './reference-window';
import { Refcounts } from './refcounts';
import { findSnapshotEntry, readSnapshotTable, SnapshotEntry, SnapshotInfo, snapshotInfo, snapshotTableClusters, storeSnapshotTable } from './snapshot-table';
import { ActiveL1, ClusterTables, HostClusters, readL1, View } from './tables';

export interface OpenOptions {
  /** Open for writing: takes the writer lock; refused on a corrupt image. */
  writable?: boolean;
  /** Opens the image file (default: node:fs/promises). Tests pass one that records the writes and barriers. */
  openFile?: OpenFileIo;
  /** Refcount blocks kept in memory (default REFCOUNT_CACHE_BLOCKS); more are written back and read again as needed. */
  refcountCacheBlocks?: number;
  /**
   * Refuse an image that names a backing file instead of opening it: for an image from elsewhere, whose header must
   * not make this process read a file of the host it names (qemu's probing lesson, CVE-2008-2004).
   */
  refuseBacking?: boolean;
  /**
   * Writes whole clusters of guest data past the page cache (O_DIRECT) where the file system allows it, from memory
   * `memoryAligned` says starts at a multiple of DIRECT_WRITE_ALIGNMENT (writable images only): for an image written in
   * bulk that nothing reads yet, as a restore's.
   */
  directDataWrites?: Pick<DirectWrites, 'memoryAligned'>;
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
 * written on flush() in an order that survives a crash at any moment (MetadataWriter); snapshots, revert
 * and the refcount rebuild commit atomically.
 */
export class Qcow2Image {
  readonly clusterSize: number;
  readonly l2Entries: number;
  readonly entryBytes: number;
  private readonly tables: ClusterTables;
  private readonly active: ActiveL1;
  private readonly allocator: ClusterAllocator;
  private readonly reader: GuestReader;
  private readonly writer: GuestWriter;
  private readonly metadata: MetadataWriter;
  private closed = false;
  /** Set when an atomic change failed half way: the cached metadata no longer matches the disk. */
  private abandoned: Error | undefined;
  /** The last write, flush or atomic change issued: each runs whole (allocation, L2 update) before the next starts. */
  private lastWrite: Promise<unknown> = Promise.resolve();

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
    const cache = new L2Cache(file, 2 ** header.clusterBits, (offset, data) => this.metadata.writeEvictedL2(offset, data));
    this.tables = new ClusterTables(header, cache);
    this.clusterSize = this.tables.clusterSize;
    this.entryBytes = this.tables.entryBytes;
    this.l2Entries = this.tables.l2Entries;
    this.active = new ActiveL1(l1, header);
    this.allocator = new ClusterAllocator(file, refcounts, this.tables, this.active, header.version);
    this.reader = new GuestReader(file, header, this.tables, backing);
    this.writer = new GuestWriter(header, file, this.tables, this.active, this.allocator, this.reader, backing !== undefined);
    this.metadata = new MetadataWriter(file, header, refcounts, this.tables, this.active, this.allocator);
    refcounts.onTableMoved = (offset, clusters) => {
      this.header.refcountTableOffset = offset;
      this.header.refcountTableClusters = clusters;
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
      handle = await (options.openFile ?? openNodeFile)(path, writable ? 'r+' : 'r');
    } catch (error) {
      await lock?.release();
      throw error;
    }
    let direct: DirectWrites | undefined;
    try {
      if (writable && options.directDataWrites) direct = await openDirectWrites(path, options.openFile ?? openNodeFile, options.directDataWrites);
      const file = new ImageFile(handle, (await handle.stat()).size, direct);
      const header = await readHeader(file);
      if (header.backingFile && options.refuseBacking) {
        throw new ImageUsageError(
          `${path} reads through to backing file ${header.backingFile}: give an image that stands alone (qemu-img convert -O qcow2 makes one)`,
        );
      }
      if (writable) requireWritableFeatures(header.incompatibleFeatures);
      const l1 = await readL1(file, header.l1TableOffset, header.l1Size, 'L1 table');
      const refcounts = await Refcounts.load(
        file,
        {
          clusterBits: header.clusterBits,
          refcountOrder: header.refcountOrder,
          tableOffset: header.refcountTableOffset,
          tableClusters: header.refcountTableClusters,
        },
        options.refcountCacheBlocks,
      );
      const snapshots = await readSnapshotTable(file, header);
      const backing = header.backingFile ? await openBacking(path, header, openQcow2Backing) : undefined;
      const image = new Qcow2Image(path, file, header, l1, refcounts, snapshots, backing, writable, lock);
      if (writable && header.incompatibleFeatures & INCOMPAT_DIRTY) await image.rebuildRefcounts();
      if (writable && header.autoclearFeatures) {
        // features we do not maintain (e.g. persistent bitmaps) must be marked stale before we write
        header.autoclearFeatures = 0n;
      }
      return image;
    } catch (error) {
      await direct?.io.close();
      await handle.close();
      await lock?.release();
      throw error;
    }
  }

  /** Bytes of guest data written past the page cache through this handle (OpenOptions.directDataWrites). */
  get directBytesWritten(): number {
    return this.file.directBytesWritten;
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

  /** An L2 table for a walk that reads each table once (L2Cache.readOnce): not kept in the image's cache. */
  l2TableOnce(offset: number, what: string): Promise<Buffer> {
    return this.tables.cache.readOnce(offset, what);
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

  hostClusters(table: Buffer, l1Index: number, all: boolean): HostClusters {
    return this.tables.hostClusters(table, l1Index, all);
  }

  /** The data clusters of an L2 table with their COPIED flags (ClusterTables.dataClusters). */
  dataClusters(table: Buffer, l1Index: number): { clusters: Float64Array; copied: Uint8Array } {
    return this.tables.dataClusters(table, l1Index);
  }

  // ---- guest I/O --------------------------------------------------------------------------------

  /** Reads guest bytes of the active image, or of a snapshot. */
  async read(offset: number, length: number, snapshot?: string): Promise<Buffer> {
    const view = snapshot === undefined ? this.activeView() : await this.snapshotView(snapshot);
    return this.readView(view, offset, length);
  }

  readView(view: View, offset: number, length: number): Promise<Buffer> {
    return this.reader.read(view, offset, length);
  }

  /**
   * Reads guest bytes into `out` (all of it). Reusing one buffer for a long sequential read avoids the
   * page faults of a fresh large allocation per call, which cost more than the read itself.
   */
  readInto(view: View, offset: number, out: Buffer): Promise<void> {
    return this.reader.readInto(view, offset, out);
  }

  /** Writes guest bytes to the active image; whole clusters of zeros become zero clusters (v3). */
  async write(offset: number, data: Buffer): Promise<void> {
    this.requireWritable();
    await this.inIssueOrder(() => this.writer.write(offset, data));
  }

  /** Makes guest bytes read as zero; whole clusters become zero clusters (v3) or unallocated (v2, no backing). */
  async writeZeroes(offset: number, length: number): Promise<void> {
    this.requireWritable();
    await this.inIssueOrder(() => this.writer.writeZeroes(offset, length));
  }

  /**
   * Callers may issue writes without waiting for the previous one (the CLI's export writes several blocks at
   * once); two writes allocating the same L2 table or refcount block together would each take their own.
   */
  private inIssueOrder<T>(work: () => Promise<T>): Promise<T> {
    const run = () => {
      this.requireWritable();
      return work();
    };
    const next = this.lastWrite.then(run, run);
    this.lastWrite = next.catch(() => undefined);
    return next;
  }

  private requireWritable(): void {
    if (!this.writable) throw new ImageUsageError(`${this.path} is open read-only`);
    if (this.closed) throw new ImageUsageError(`${this.path} is closed`);
    if (this.abandoned) throw new ImageUsageError(`${this.path}: a change failed half way (${this.abandoned.message}); reopen the image`);
  }

  // ---- metadata write-back ----------------------------------------------------------------------

  /** Makes every change so far durable (see MetadataWriter for the order). */
  async flush(): Promise<void> {
    if (!this.writable) return;
    this.requireWritable();
    if (this.metadata.inAtomicChange) throw new ImageUsageError('flush() inside an atomic change');
    await this.inIssueOrder(() => this.metadata.flush());
  }

  /**
   * Runs `change` — which modifies metadata in memory only — and commits it with a single header write, so
   * that a crash leaves either the state before or the state after. If `change` fails, nothing of it reaches
   * the disk and the image must be reopened.
   */
  async atomically(change: () => Promise<void>): Promise<void> {
    this.requireWritable();
    try {
      await this.inIssueOrder(() => this.metadata.atomically(change));
    } catch (error) {
      this.abandoned = error instanceof Error ? error : new Error(String(error));
      throw error;
    }
  }

  private requireAtomicChange(what: string): void {
    if (!this.metadata.inAtomicChange) throw new ImageUsageError(`${what} may only change inside atomically()`);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    try {
      if (!this.abandoned) await this.flush();
    } finally {
      this.closed = true;
      await this.backing?.close();
      await this.file.close();
      await this.lock?.release();
    }
  }

  // ---- structure changes used by snapshots, resize and check ------------------------------------

  /**
   * Adds `delta` to the refcount of every L2 table and cluster reachable from `l1` (inside atomically()); `singles` collects
   * where that left a cluster one reference.
   */
  addReferences(l1: BigUint64Array, delta: 1 | -1, singles?: SingleReferences): Promise<void> {
    this.requireAtomicChange('references of a point in time');
    return addReferences(this.tables, this.refcounts, l1, delta, singles);
  }

  /** Sets the COPIED flag exactly where the refcount is 1, in the active L1 and its L2 tables (inside atomically()). */
  refreshCopiedFlags(): Promise<void> {
    this.requireAtomicChange('COPIED flags');
    return refreshCopiedFlags(this.tables, this.refcounts, this.active);
  }

  /**
   * After a drop whose references went down by `singles`' addReferences: sets the COPIED flags that drop made due, looking
   * only where it left a cluster one reference (a pass over every refcount once it stopped counting them).
   */
  setCopiedFlagsAfterDrop(singles: SingleReferences): Promise<void> {
    this.requireAtomicChange('COPIED flags');
    if (singles.overflowed) return refreshCopiedFlags(this.tables, this.refcounts, this.active);
    return setCopiedFlagsAfterDrop(this.tables, this.refcounts, this.active, singles);
  }

  /**
   * Clears every COPIED flag of the active L1 and its L2 tables, once all they reach is shared (inside atomically(); the
   * L2 tables this rewrites move to clusters of their own at its commit, and their L1 entries say so).
   */
  clearCopiedFlags(): Promise<void> {
    this.requireAtomicChange('COPIED flags');
    return clearCopiedFlags(this.tables, this.active);
  }

  /** Writes an L1 table into newly allocated clusters; returns its offset. */
  writeNewL1(l1: BigUint64Array): Promise<number> {
    return this.allocator.writeNewL1(l1);
  }

  releaseL1(offset: number, entries: number): Promise<void> {
    return this.allocator.releaseL1(offset, entries);
  }

  /** Writes the snapshot table to new clusters and points the header at it (inside atomically()). */
  async replaceSnapshotTable(entries: SnapshotEntry[]): Promise<void> {
    this.requireAtomicChange('the snapshot table');
    const old = {
      offset: this.header.snapshotsOffset,
      count: this.snapshotEntries.length,
      clusters: snapshotTableClusters(this.snapshotEntries, this.clusterSize),
    };
    const offset = await storeSnapshotTable(this.file, this.refcounts, entries);
    this.snapshotEntries = entries;
    this.header.snapshotsOffset = offset;
    this.header.nbSnapshots = entries.length;
    if (old.count > 0 && old.offset) await this.refcounts.release(old.offset, old.clusters);
  }

  get snapshotList(): readonly SnapshotEntry[] {
    return this.snapshotEntries;
  }

  /**
   * Replaces the active L1 table (revert, grow), writing it to new clusters when its size changes; the old
   * clusters are released once the header names the new ones.
   */
  async replaceActiveL1(l1: BigUint64Array): Promise<void> {
    if (l1.length !== this.active.entries.length) {
      const offset = await this.writeNewL1(l1);
      const old = { offset: this.header.l1TableOffset, size: this.header.l1Size };
      this.active.replace(l1, false);
      this.header.l1TableOffset = offset;
      this.header.l1Size = l1.length;
      await this.releaseL1(old.offset, old.size);
    } else {
      this.active.replace(l1, true);
    }
  }

  setVirtualSize(size: number): void {
    this.header.size = size;
  }

  /** Rewrites refcounts from what the metadata references (dirty images), a window of clusters at a time. */
  async rebuildRefcounts(windowClusters?: number): Promise<void> {
    await this.atomically(async () => {
      const overwrite = (window: ReferenceWindow) => this.refcounts.overwriteRange(window.first, window.end, (c) => window.get(c));
      await computeReferences(this, overwrite, windowClusters);
      this.header.incompatibleFeatures &= ~INCOMPAT_DIRTY;
    });
  }

  assertOpen(): void {
    if (this.closed) throw new Qcow2Error(`${this.path} is closed`);
  }
}

/** The image's file opened for writes past the page cache, or undefined where its file system has no such writes (tmpfs before Linux 6.6). */
async function openDirectWrites(path: string, openFile: OpenFileIo, asked: Pick<DirectWrites, 'memoryAligned'>): Promise<DirectWrites | undefined> {
  try {
    return { io: await openFile(path, 'r+direct'), memoryAligned: asked.memoryAligned };
  } catch (error) {
    if (refusesDirect(error)) return undefined;
    throw error;
  }
}

async function openQcow2Backing(path: string): Promise<BackingSource> {
  const image = await Qcow2Image.open(path);
  return { size: image.header.size, read: (o, l) => image.read(o, l), close: () => image.close() };
}
