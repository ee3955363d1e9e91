import { ImageFile } from './image-file';
import { InvalidImageError, Qcow2Error, hex } from './qcow2-errors';
import { MAX_REFTABLE_BYTES } from './limits';

export interface RefcountLayout {
  clusterBits: number;
  refcountOrder: number;
  tableOffset: number;
  tableClusters: number;
}

/**
 * Refcount blocks kept in memory by default: with 64 KiB clusters and 16-bit refcounts, 4 MiB covering 128 GiB of image
 * (all of them for a 4 TiB image would be 128 MiB). Clusters are allocated at the image's end and walks go in order, so
 * more would mostly hold blocks already used (256 put 12 MiB more on the peak of a 4 TiB image's check).
 */
export const REFCOUNT_CACHE_BLOCKS = 64;

const ZERO_PAIR = Buffer.alloc(2);

interface CachedBlock {
  data: Buffer;
  dirty: boolean;
}

/** Clusters an atomic change took and freed: the state on disk does not use the first, and still uses the second. */
interface AtomicChange {
  fresh: Set<number>;
  freed: Set<number>;
}

/**
 * The refcount table and blocks, cached in memory and written back when the image flushes. Allocation reuses
 * freed clusters (lowest first) and otherwise grows the file; new refcount blocks and a larger refcount table
 * are allocated the same way, so the structure always describes itself.
 *
 * A refcount may only drop on disk once the metadata that dropped the reference is there: releases wait in
 * `deferred` until the image applies them after writing that metadata, and until then the clusters stay in
 * use. During an atomic change (snapshots) the blocks are moved to new clusters instead, so releases apply at
 * once, and the clusters they free are not reused before the change is committed.
 *
 * About `cacheBlocks` refcount blocks stay in memory, least recently used pushed out first. A changed block pushed
 * out is written then, which keeps the image's write order: outside an atomic change a cached block holds only raised
 * refcounts and releases already applied (applyDeferredReleases runs once the metadata that dropped them is on disk),
 * and writing either early is safe. Inside one, a changed block still where the state on disk has it ("stale") must
 * first move to a fresh cluster, as relocateForCommit moves it; moving allocates, and an allocation must not happen in
 * the middle of another one's search for free clusters, so stale blocks are moved only where the bulk changes
 * (changeMany, overwriteAll) step to another block, and are pushed out once moved.
 */
export class Refcounts {
  readonly clusterSize: number;
  readonly bits: number;
  readonly entriesPerBlock: number;
  readonly max: number;
  private table: number[];
  private tableDirty = false;
  /** Cached refcount blocks by table index, least recently used first. */
  private readonly blocks = new Map<number, CachedBlock>();
  /** The table index last used (the end of `blocks`): using it again costs no reordering. */
  private mostRecent = -1;
  /** Clusters below this index were all in use when last looked at. */
  private freeHint = 0;
  /** One past the last cluster allocated or present in the file. */
  private endCluster: number;
  /** Releases not yet applied, by cluster. */
  private readonly deferred = new Map<number, number>();
  private atomic: AtomicChange | undefined;
  /** Called when the refcount table moved (the header must be rewritten). */
  onTableMoved: (offset: number, clusters: number) => void = () => undefined;

  private constructor(
    private readonly file: ImageFile,
    public layout: RefcountLayout,
    table: number[],
    private readonly cacheBlocks: number,
  ) {
    this.clusterSize = 2 ** layout.clusterBits;
    this.bits = 2 ** layout.refcountOrder;
    this.entriesPerBlock = (this.clusterSize * 8) / this.bits;
    this.max = this.bits >= 53 ? Number.MAX_SAFE_INTEGER : 2 ** this.bits - 1;
    this.table = table;
    this.endCluster = Math.ceil(file.size / this.clusterSize);
  }

  static async load(file: ImageFile, layout: RefcountLayout, cacheBlocks = REFCOUNT_CACHE_BLOCKS): Promise<Refcounts> {
    const clusterSize = 2 ** layout.clusterBits;
    const raw = await file.readExact(layout.tableOffset, layout.tableClusters * clusterSize, 'refcount table');
    const table: number[] = [];
    for (let i = 0; i < raw.length / 8; i++) {
      const entry = raw.readBigUInt64BE(i * 8);
      const offset = Number(entry & 0x00fffffffffffe00n);
      if (entry & 0x1ffn) throw new InvalidImageError(`refcount table entry ${i}`, entry, 'is not cluster aligned');
      if (offset % clusterSize !== 0) throw new InvalidImageError(`refcount block offset (entry ${i})`, offset, 'is not cluster aligned');
      table.push(offset);
    }
    return new Refcounts(file, layout, table, Math.max(1, cacheBlocks));
  }

  get fileClusters(): number {
    return this.endCluster;
  }

  /** Refcount blocks in memory now (about `cacheBlocks` at most: see the class comment). */
  get cachedBlocks(): number {
    return this.blocks.size;
  }

  /** Offsets of the refcount blocks (0 where none). */
  get blockOffsets(): readonly number[] {
    return this.table;
  }

  async get(cluster: number): Promise<number> {
    const tableIndex = Math.floor(cluster / this.entriesPerBlock);
    if (!this.hasBlock(tableIndex)) return 0;
    const block = await this.block(tableIndex);
    return this.read(block.data, cluster % this.entriesPerBlock);
  }

  async set(cluster: number, value: number, depth = 0): Promise<void> {
    if (value < 0 || value > this.max) {
      throw new Qcow2Error(`refcount of cluster ${hex(cluster * this.clusterSize)} would become ${value} (allowed 0..${this.max})`);
    }
    if (depth > 8) throw new Qcow2Error('refcount structure does not converge while growing');
    const tableIndex = Math.floor(cluster / this.entriesPerBlock);
    if (tableIndex >= this.table.length) await this.growTable(tableIndex + 1, depth);
    if (this.table[tableIndex] === 0) {
      if (value === 0) return;
      await this.newBlock(tableIndex, depth);
    }
    this.store(await this.block(tableIndex), cluster, value);
  }

  async change(cluster: number, delta: number): Promise<number> {
    const value = (await this.get(cluster)) + delta;
    if (value < 0) throw new Qcow2Error(`refcount of cluster ${hex(cluster * this.clusterSize)} would drop below zero`);
    await this.set(cluster, value);
    return value;
  }

  /**
   * Adds `delta` to the refcount of each cluster listed (repeats count twice), reading each refcount block
   * once: the cost of taking or dropping a snapshot is one pass over its clusters, not an await per cluster. `leftOne`
   * hears the position in `clusters` of each one whose refcount this leaves at 1.
   */
  async changeMany(clusters: ArrayLike<number>, delta: 1 | -1, leftOne?: (k: number) => void): Promise<void> {
    await this.relieveStaleBlocks();
    let tableIndex = -1;
    let block: CachedBlock | undefined;
    for (let k = 0; k < clusters.length; k++) {
      const cluster = clusters[k];
      const index = Math.floor(cluster / this.entriesPerBlock);
      if (index !== tableIndex || !block) {
        tableIndex = index;
        block = this.hasBlock(index) ? (this.cached(index) ?? (await this.relieveThenLoad(index))) : undefined;
      }
      if (!block) {
        // no refcount block yet: the general path creates it, and may move blocks in the cache
        if ((await this.change(cluster, delta)) === 1) leftOne?.(k);
        tableIndex = -1;
        continue;
      }
      const entry = cluster - index * this.entriesPerBlock;
      const old = this.read(block.data, entry);
      const value = old + delta;
      if (value < 0) throw new Qcow2Error(`refcount of cluster ${hex(cluster * this.clusterSize)} would drop below zero`);
      if (value > this.max) throw new Qcow2Error(`refcount of cluster ${hex(cluster * this.clusterSize)} would become ${value} (allowed 0..${this.max})`);
      if (old > 0 && value > 0 && cluster < this.endCluster) {
        // still in use either way: none of the bookkeeping store() keeps for clusters taken or freed applies
        this.write(block.data, entry, value);
        block.dirty = true;
      } else {
        this.store(block, cluster, value);
      }
      if (value === 1) leftOne?.(k);
    }
  }

  /** The refcounts of the clusters listed, reading each refcount block once. */
  async getMany(clusters: ArrayLike<number>): Promise<Float64Array> {
    const values = new Float64Array(clusters.length);
    let tableIndex = -1;
    let data: Buffer | undefined;
    for (let k = 0; k < clusters.length; k++) {
      const cluster = clusters[k];
      const index = Math.floor(cluster / this.entriesPerBlock);
      if (index !== tableIndex) {
        tableIndex = index;
        data = this.hasBlock(index) ? (this.cached(index) ?? (await this.block(index))).data : undefined;
      }
      values[k] = data === undefined ? 0 : this.read(data, cluster - index * this.entriesPerBlock);
    }
    return values;
  }

  /** Finds `count` contiguous free clusters (reusing freed ones first), marks them used, returns the host offset. */
  async allocate(count: number): Promise<number> {
    let start = this.freeHint;
    let run = 0;
    const freed = this.atomic?.freed.size ? this.atomic.freed : undefined;
    // a refcount block at a time, without an await per cluster: a freshly opened image scans from its first cluster
    for (let c = this.freeHint; c < this.endCluster && run < count;) {
      const tableIndex = Math.floor(c / this.entriesPerBlock);
      const blockEnd = Math.min(this.endCluster, (tableIndex + 1) * this.entriesPerBlock);
      const data = this.hasBlock(tableIndex) ? (await this.block(tableIndex)).data : undefined;
      for (; c < blockEnd && run < count; c++) {
        if (run === 0 && data !== undefined) {
          // every cluster before the block's next zero refcount is in use: skip to it
          const first = tableIndex * this.entriesPerBlock;
          const zero = this.nextZero(data, c - first, blockEnd - first);
          const next = zero < 0 ? blockEnd : first + zero;
          if (c === this.freeHint) this.freeHint = next;
          c = next;
          if (c === blockEnd) break;
        }
        const free = (data === undefined || this.read(data, c % this.entriesPerBlock) === 0) && !freed?.has(c);
        if (free) {
          if (run === 0) start = c;
          run++;
        } else {
          run = 0;
          if (c === this.freeHint) this.freeHint = c + 1;
        }
      }
    }
    if (run < count) {
      // the run continues past the end of the file, or there is none: take clusters at the end
      if (run === 0) start = this.endCluster;
      this.endCluster = Math.max(this.endCluster, start + count);
    }
    for (let c = start; c < start + count; c++) await this.set(c, 1);
    return start * this.clusterSize;
  }

  /**
   * Drops one reference from each of `count` clusters from `offset`. Outside an atomic change the drop is
   * deferred (see the class comment): the clusters stay in use until applyDeferredReleases.
   */
  async release(offset: number, count = 1): Promise<void> {
    for (let c = offset / this.clusterSize; c < offset / this.clusterSize + count; c++) {
      if (this.atomic) {
        await this.change(c, -1);
        continue;
      }
      const pending = (this.deferred.get(c) ?? 0) + 1;
      if ((await this.get(c)) < pending) throw new Qcow2Error(`refcount of cluster ${hex(c * this.clusterSize)} would drop below zero`);
      this.deferred.set(c, pending);
    }
  }

  /** Applies the deferred releases (once the metadata that dropped the references is on disk); false if there were none. */
  async applyDeferredReleases(): Promise<boolean> {
    if (this.deferred.size === 0) return false;
    for (const [cluster, count] of this.deferred) await this.change(cluster, -count);
    this.deferred.clear();
    return true;
  }

  /** Writes every changed refcount block and makes the file cover every allocated cluster. */
  async writeBlocks(): Promise<void> {
    for (const [tableIndex, block] of this.blocks) {
      if (block.dirty) {
        await this.file.write(this.table[tableIndex], block.data);
        block.dirty = false;
      }
    }
    // clusters allocated but never written still belong to the file: qemu-img check expects the file to cover them
    if (this.endCluster * this.clusterSize > this.file.size) await this.file.truncate(this.endCluster * this.clusterSize);
  }

  /** Writes the refcount table where the layout places it, if it changed. */
  async writeTable(): Promise<void> {
    if (!this.tableDirty) return;
    const raw = Buffer.alloc(this.layout.tableClusters * this.clusterSize);
    this.table.forEach((offset, i) => raw.writeBigUInt64BE(BigInt(offset), i * 8));
    await this.file.write(this.layout.tableOffset, raw);
    this.tableDirty = false;
  }

  /**
   * Sets the refcount of every cluster in [first, end) to `computed(cluster)` where it differs (dirty-image rebuild),
   * comparing a refcount block at a time in memory: an await only where a refcount changes or a block is read.
   */
  async overwriteRange(first: number, end: number, computed: (cluster: number) => number): Promise<void> {
    for (let c = first; c < end;) {
      await this.relieveStaleBlocks();
      const index = Math.floor(c / this.entriesPerBlock);
      const blockEnd = Math.min(end, (index + 1) * this.entriesPerBlock);
      for (; c < blockEnd; c++) {
        const want = computed(c);
        // looked up each time: a change may allocate, and push this block out of the cache
        const data = this.hasBlock(index) ? (this.cached(index) ?? (await this.block(index))).data : undefined;
        if ((data === undefined ? 0 : this.read(data, c - index * this.entriesPerBlock)) !== want) await this.set(c, want);
      }
    }
  }

  /** Calls `visit` with the refcount of each cluster in [first, end), reading each refcount block once. */
  async forEachRefcount(first: number, end: number, visit: (cluster: number, refcount: number) => void): Promise<void> {
    for (let c = first; c < end;) {
      const index = Math.floor(c / this.entriesPerBlock);
      const blockEnd = Math.min(end, (index + 1) * this.entriesPerBlock);
      const data = this.hasBlock(index) ? (this.cached(index) ?? (await this.block(index))).data : undefined;
      for (; c < blockEnd; c++) visit(c, data === undefined ? 0 : this.read(data, c - index * this.entriesPerBlock));
    }
  }

  // ---- atomic changes: the old state on disk stays intact until the header names the new one ----------

  beginAtomicChange(): void {
    if (this.deferred.size) throw new Qcow2Error('an atomic change began with releases still deferred');
    this.atomic = { fresh: new Set(), freed: new Set() };
  }

  /** Whether the cluster at `offset` was free on disk when the atomic change began (so it may be written). */
  isFresh(offset: number): boolean {
    return this.atomic?.fresh.has(offset / this.clusterSize) ?? false;
  }

  /** Moves every changed refcount block, then the table, to fresh clusters; allocating those changes more blocks, hence the loop. */
  async relocateForCommit(): Promise<void> {
    for (;;) {
      const stale = [...this.blocks].filter(([i, block]) => this.isStale(i, block)).map(([i]) => i);
      if (stale.length) {
        for (const tableIndex of stale) await this.relocate(tableIndex);
        continue;
      }
      if (!this.tableDirty || this.isFresh(this.layout.tableOffset)) return;
      await this.moveTable(this.layout.tableClusters, 0);
    }
  }

  /** The change is on disk: the clusters it freed may be reused. */
  endAtomicChange(): void {
    for (const c of this.atomic?.freed ?? []) if (c < this.freeHint) this.freeHint = c;
    this.atomic = undefined;
  }

  // ---- internals --------------------------------------------------------------------------------------

  /** Whether the refcount table names a block at this index (none: every cluster it would cover has refcount 0). */
  private hasBlock(tableIndex: number): boolean {
    return tableIndex < this.table.length && this.table[tableIndex] !== 0;
  }

  /** Changed during an atomic change and still where the state on disk has it: it must move before it is written. */
  private isStale(tableIndex: number, block: CachedBlock): boolean {
    return this.atomic !== undefined && block.dirty && !this.isFresh(this.table[tableIndex]);
  }

  /** Moves a refcount block to a fresh cluster (an atomic change's copy of it); its data follows when it is written. */
  private async relocate(tableIndex: number): Promise<void> {
    const old = this.table[tableIndex];
    this.table[tableIndex] = await this.allocate(1);
    this.tableDirty = true;
    await this.release(old);
  }

  /**
   * Pushes out least recently used blocks beyond the cache's size: clean ones are dropped, changed ones written where
   * they are. Never `keep` (the block being handed out), nor a stale one (see the class comment), nor allocates.
   */
  private async evictBeyondCache(keep: number): Promise<void> {
    for (const [tableIndex, block] of this.blocks) {
      if (this.blocks.size <= this.cacheBlocks) return;
      if (tableIndex === keep || this.isStale(tableIndex, block)) continue;
      if (block.dirty) {
        await this.file.write(this.table[tableIndex], block.data);
        block.dirty = false;
      }
      this.blocks.delete(tableIndex);
    }
  }

  /** relieveStaleBlocks, then the block at a table index: for the bulk changes, which step from block to block. */
  private async relieveThenLoad(tableIndex: number): Promise<CachedBlock> {
    await this.relieveStaleBlocks();
    return this.block(tableIndex);
  }

  /**
   * Inside an atomic change, moves the least recently used stale blocks that would keep the cache full once another
   * block is read, so that reading it pushes them out. Called only between allocations (see the class comment).
   */
  private async relieveStaleBlocks(): Promise<void> {
    const beyond = this.blocks.size - this.cacheBlocks + 1;
    if (!this.atomic || beyond <= 0) return;
    for (const tableIndex of [...this.blocks.keys()].slice(0, beyond)) {
      const block = this.blocks.get(tableIndex);
      if (block && this.isStale(tableIndex, block)) await this.relocate(tableIndex);
    }
  }

  private store(block: CachedBlock, cluster: number, value: number): void {
    const index = cluster % this.entriesPerBlock;
    if (this.atomic) {
      const old = this.read(block.data, index);
      if (old === 0 && value > 0 && !this.atomic.freed.has(cluster)) this.atomic.fresh.add(cluster);
      if (old > 0 && value === 0 && !this.atomic.fresh.has(cluster)) this.atomic.freed.add(cluster);
    }
    this.write(block.data, index, value);
    block.dirty = true;
    // a cluster an atomic change frees stays in use on disk until the change commits (endAtomicChange lowers the hint
    // then): lowering it now would send every later allocation of the change scanning from here to the end of the file
    if (value === 0 && cluster < this.freeHint && !this.atomic?.freed.has(cluster)) this.freeHint = cluster;
    if (cluster >= this.endCluster && value > 0) this.endCluster = cluster + 1;
  }

  /** The refcount block at a table index if it is in memory, made the most recently used. */
  private cached(tableIndex: number): CachedBlock | undefined {
    const block = this.blocks.get(tableIndex);
    if (block && tableIndex !== this.mostRecent) this.cache(tableIndex, block);
    return block;
  }

  /** (Re)places a block at the end of the cache, as the most recently used. */
  private cache(tableIndex: number, block: CachedBlock): void {
    this.blocks.delete(tableIndex);
    this.blocks.set(tableIndex, block);
    this.mostRecent = tableIndex;
  }

  /** The refcount block at a table index, read and cached if it is not in memory, as the most recently used. */
  private async block(tableIndex: number): Promise<CachedBlock> {
    const cached = this.cached(tableIndex);
    if (cached) return cached;
    const data = await this.file.readExact(this.table[tableIndex], this.clusterSize, `refcount block ${tableIndex}`);
    const block = { data, dirty: false };
    this.cache(tableIndex, block);
    await this.evictBeyondCache(tableIndex);
    return block;
  }

  private async newBlock(tableIndex: number, depth: number): Promise<void> {
    const cluster = this.endCluster++;
    this.table[tableIndex] = cluster * this.clusterSize;
    this.tableDirty = true;
    this.cache(tableIndex, { data: Buffer.alloc(this.clusterSize), dirty: true });
    await this.set(cluster, 1, depth + 1);
    await this.evictBeyondCache(tableIndex);
  }

  private async growTable(minEntries: number, depth: number): Promise<void> {
    const entriesPerCluster = this.clusterSize / 8;
    const entries = Math.max(minEntries + 1, this.table.length * 2);
    const clusters = Math.ceil(entries / entriesPerCluster);
    if (clusters * this.clusterSize > MAX_REFTABLE_BYTES) throw new Qcow2Error('the refcount table would exceed its 8 MiB limit');
    await this.moveTable(clusters, depth);
  }

  /** Places the table in `clusters` new clusters at the end of the file; the old ones are released. */
  private async moveTable(clusters: number, depth: number): Promise<void> {
    const old = { offset: this.layout.tableOffset, clusters: this.layout.tableClusters };
    const start = this.endCluster;
    this.endCluster += clusters;
    while (this.table.length < clusters * (this.clusterSize / 8)) this.table.push(0);
    this.layout = { ...this.layout, tableOffset: start * this.clusterSize, tableClusters: clusters };
    this.tableDirty = true;
    for (let c = start; c < start + clusters; c++) await this.set(c, 1, depth + 1);
    await this.release(old.offset, old.clusters);
    this.onTableMoved(this.layout.tableOffset, clusters);
  }

  /** The index of the first zero refcount in [from, to) of a refcount block, -1 if none. */
  private nextZero(data: Buffer, from: number, to: number): number {
    if (this.bits === 16) {
      // a byte search finds two zero bytes; only a pair that is one entry (even offset) is a zero refcount
      for (let at = from * 2; ; at++) {
        at = data.indexOf(ZERO_PAIR, at);
        if (at < 0 || at >= to * 2) return -1;
        if (at % 2 === 0) return at / 2;
      }
    }
    for (let i = from; i < to; i++) if (this.read(data, i) === 0) return i;
    return -1;
  }

  private read(data: Buffer, index: number): number {
    switch (this.bits) {
      case 1:
      case 2:
      case 4: {
        const perByte = 8 / this.bits;
        return (data[Math.floor(index / perByte)] >> (this.bits * (index % perByte))) & (2 ** this.bits - 1);
      }
      case 8:
        return data[index];
      case 16:
        return (data[index * 2] << 8) | data[index * 2 + 1];
      case 32:
        return data.readUInt32BE(index * 4);
      default: {
        const value = data.readBigUInt64BE(index * 8);
        if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new InvalidImageError('refcount', value, 'is too large');
        return Number(value);
      }
    }
  }

  private write(data: Buffer, index: number, value: number): void {
    switch (this.bits) {
      case 1:
      case 2:
      case 4: {
        const perByte = 8 / this.bits;
        const at = Math.floor(index / perByte);
        const shift = this.bits * (index % perByte);
        const mask = (2 ** this.bits - 1) << shift;
        data[at] = (data[at] & ~mask) | (value << shift);
        return;
      }
      case 8:
        data[index] = value;
        return;
      case 16:
        data[index * 2] = value >>> 8;
        data[index * 2 + 1] = value & 0xff;
        return;
      case 32:
        data.writeUInt32BE(value, index * 4);
        return;
      default:
        data.writeBigUInt64BE(BigInt(value), index * 8);
    }
  }
}
