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
 * The refcount table and blocks, cached in memory and written back on flush. Allocation reuses freed
 * clusters (lowest first) and otherwise grows the file; new refcount blocks and a larger refcount table
 * are allocated the same way, so the structure always describes itself.
 */
export class Refcounts {
  readonly clusterSize: number;
  readonly bits: number;
  readonly entriesPerBlock: number;
  readonly max: number;
  private table: number[];
  private tableDirty = false;
  private readonly blocks = new Map<number, { data: Buffer; dirty: boolean }>();
  /** Clusters below this index were all in use when last looked at. */
  private freeHint = 0;
  /** One past the last cluster allocated or present in the file. */
  private endCluster: number;
  /** Called when the refcount table moved (the header must be rewritten). */
  onTableMoved: (offset: number, clusters: number) => void = () => undefined;

  private constructor(
    private readonly file: ImageFile,
    public layout: RefcountLayout,
    table: number[],
  ) {
    this.clusterSize = 2 ** layout.clusterBits;
    this.bits = 2 ** layout.refcountOrder;
    this.entriesPerBlock = (this.clusterSize * 8) / this.bits;
    this.max = this.bits >= 53 ? Number.MAX_SAFE_INTEGER : 2 ** this.bits - 1;
    this.table = table;
    this.endCluster = Math.ceil(file.size / this.clusterSize);
  }

  static async load(file: ImageFile, layout: RefcountLayout): Promise<Refcounts> {
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
    return new Refcounts(file, layout, table);
  }

  get fileClusters(): number {
    return this.endCluster;
  }

  /** Offsets of the refcount blocks (0 where none). */
  get blockOffsets(): readonly number[] {
    return this.table;
  }

  async get(cluster: number): Promise<number> {
    const tableIndex = Math.floor(cluster / this.entriesPerBlock);
    if (tableIndex >= this.table.length || this.table[tableIndex] === 0) return 0;
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
    const block = await this.block(tableIndex);
    this.write(block.data, cluster % this.entriesPerBlock, value);
    block.dirty = true;
    if (value === 0 && cluster < this.freeHint) this.freeHint = cluster;
    if (cluster >= this.endCluster && value > 0) this.endCluster = cluster + 1;
  }

  async change(cluster: number, delta: number): Promise<number> {
    const value = (await this.get(cluster)) + delta;
    if (value < 0) throw new Qcow2Error(`refcount of cluster ${hex(cluster * this.clusterSize)} would drop below zero`);
    await this.set(cluster, value);
    return value;
  }

  /**
   * Adds `delta` to the refcount of each cluster listed (repeats count twice), reading each refcount block
   * once: the cost of taking or dropping a snapshot is one pass over its clusters, not an await per cluster.
   */
  async changeMany(clusters: readonly number[], delta: 1 | -1): Promise<void> {
    for (const cluster of clusters) {
      const tableIndex = Math.floor(cluster / this.entriesPerBlock);
      const present = tableIndex < this.table.length && this.table[tableIndex] !== 0;
      const block = present ? (this.blocks.get(tableIndex) ?? (await this.block(tableIndex))) : undefined;
      if (!block) {
        await this.change(cluster, delta); // no refcount block yet: the general path creates it
        continue;
      }
      const index = cluster % this.entriesPerBlock;
      const value = this.read(block.data, index) + delta;
      if (value < 0) throw new Qcow2Error(`refcount of cluster ${hex(cluster * this.clusterSize)} would drop below zero`);
      if (value > this.max) throw new Qcow2Error(`refcount of cluster ${hex(cluster * this.clusterSize)} would become ${value} (allowed 0..${this.max})`);
      this.write(block.data, index, value);
      block.dirty = true;
      if (value === 0 && cluster < this.freeHint) this.freeHint = cluster;
      if (cluster >= this.endCluster && value > 0) this.endCluster = cluster + 1;
    }
  }

  /** The refcounts of the clusters listed, reading each refcount block once. */
  async getMany(clusters: readonly number[]): Promise<number[]> {
    const values: number[] = new Array<number>(clusters.length);
    for (let k = 0; k < clusters.length; k++) {
      const cluster = clusters[k];
      const tableIndex = Math.floor(cluster / this.entriesPerBlock);
      if (tableIndex >= this.table.length || this.table[tableIndex] === 0) {
        values[k] = 0;
        continue;
      }
      const block = this.blocks.get(tableIndex) ?? (await this.block(tableIndex));
      values[k] = this.read(block.data, cluster % this.entriesPerBlock);
    }
    return values;
  }

  /** Finds `count` contiguous free clusters (reusing freed ones first), marks them used, returns the host offset. */
  async allocate(count: number): Promise<number> {
    let start = this.freeHint;
    let run = 0;
    for (let c = this.freeHint; c < this.endCluster && run < count; c++) {
      if ((await this.get(c)) === 0) {
        if (run === 0) start = c;
        run++;
      } else {
        run = 0;
        if (c === this.freeHint) this.freeHint = c + 1;
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

  /** Decrements the refcount of `count` clusters from `offset`; returns how many became free. */
  async release(offset: number, count = 1): Promise<number> {
    let freed = 0;
    for (let c = offset / this.clusterSize; c < offset / this.clusterSize + count; c++) {
      if ((await this.change(c, -1)) === 0) freed++;
    }
    return freed;
  }

  /** Writes every changed refcount block, then the table. */
  async flush(): Promise<void> {
    for (const [tableIndex, block] of this.blocks) {
      if (block.dirty) {
        await this.file.write(this.table[tableIndex], block.data);
        block.dirty = false;
      }
    }
    if (this.tableDirty) {
      const raw = Buffer.alloc(this.layout.tableClusters * this.clusterSize);
      this.table.forEach((offset, i) => raw.writeBigUInt64BE(BigInt(offset), i * 8));
      await this.file.write(this.layout.tableOffset, raw);
      this.tableDirty = false;
    }
    // clusters allocated but never written still belong to the file: qemu-img check expects the file to cover them
    if (this.endCluster * this.clusterSize > this.file.size) await this.file.truncate(this.endCluster * this.clusterSize);
  }

  /** Replaces every refcount with `computed` (check --repair, dirty-image rebuild); zero elsewhere. */
  async overwriteAll(computed: Map<number, number>, clusters: number): Promise<void> {
    for (let c = 0; c < clusters; c++) {
      const want = computed.get(c) ?? 0;
      if ((await this.get(c)) !== want) await this.set(c, want);
    }
  }

  private async block(tableIndex: number): Promise<{ data: Buffer; dirty: boolean }> {
    let block = this.blocks.get(tableIndex);
    if (!block) {
      const data = await this.file.readExact(this.table[tableIndex], this.clusterSize, `refcount block ${tableIndex}`);
      block = { data, dirty: false };
      this.blocks.set(tableIndex, block);
    }
    return block;
  }

  private async newBlock(tableIndex: number, depth: number): Promise<void> {
    const cluster = this.endCluster++;
    this.table[tableIndex] = cluster * this.clusterSize;
    this.tableDirty = true;
    this.blocks.set(tableIndex, { data: Buffer.alloc(this.clusterSize), dirty: true });
    await this.set(cluster, 1, depth + 1);
  }

  private async growTable(minEntries: number, depth: number): Promise<void> {
    const entriesPerCluster = this.clusterSize / 8;
    const entries = Math.max(minEntries + 1, this.table.length * 2);
    const clusters = Math.ceil(entries / entriesPerCluster);
    if (clusters * this.clusterSize > MAX_REFTABLE_BYTES) throw new Qcow2Error('the refcount table would exceed its 8 MiB limit');
    const old = { offset: this.layout.tableOffset, clusters: this.layout.tableClusters };
    const start = this.endCluster;
    this.endCluster += clusters;
    while (this.table.length < clusters * entriesPerCluster) this.table.push(0);
    this.layout = { ...this.layout, tableOffset: start * this.clusterSize, tableClusters: clusters };
    this.tableDirty = true;
    for (let c = start; c < start + clusters; c++) await this.set(c, 1, depth + 1);
    for (let c = old.offset / this.clusterSize; c < old.offset / this.clusterSize + old.clusters; c++) await this.set(c, 0, depth + 1);
    this.onTableMoved(this.layout.tableOffset, clusters);
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
        return data.readUInt16BE(index * 2);
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
        data.writeUInt16BE(value, index * 2);
        return;
      case 32:
        data.writeUInt32BE(value, index * 4);
        return;
      default:
        data.writeBigUInt64BE(BigInt(value), index * 8);
    }
  }
}
