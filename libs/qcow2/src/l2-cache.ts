import { ImageFile } from './image-file';

/**
 * 8 MiB of 64 KiB tables, covering 64 GiB of guest data: island's own reads and writes go through an image in block order
 * (uploads, restores) and its walks (check, points in time taken and dropped, diffs) read each table once, so a larger
 * cache only holds tables already used; 512 put 32 MiB more on the peak of a worker resuming a 4 TiB restore.
 */
const L2_CACHE_TABLES = 128;

interface CachedTable {
  data: Buffer;
  dirty: boolean;
}

/**
 * L2 tables by host offset, least recently used first. A changed table is written back on flush; one pushed
 * out before that goes through `writeEvicted`, which keeps the image's write order (see MetadataWriter).
 */
export class L2Cache {
  private readonly tables = new Map<number, CachedTable>();

  constructor(
    private readonly file: ImageFile,
    private readonly clusterSize: number,
    private readonly writeEvicted: (offset: number, data: Buffer) => Promise<void>,
  ) {}

  /** The table at `offset`, read (and cached) if it is not in memory; `what` names it in errors. */
  async get(offset: number, what: string): Promise<Buffer> {
    const cached = this.tables.get(offset);
    if (cached) {
      this.tables.delete(offset);
      this.tables.set(offset, cached);
      return cached.data;
    }
    const data = await this.file.readExact(offset, this.clusterSize, what);
    await this.put(offset, data, false);
    return data;
  }

  /**
   * The table at `offset` for a walk that reads each table once: the cached copy (it may hold changes not yet written)
   * or the file's, left out of the cache so that the walk pushes out none of the tables in use.
   */
  readOnce(offset: number, what: string): Promise<Buffer> {
    const cached = this.tables.get(offset);
    return cached ? Promise.resolve(cached.data) : this.file.readExact(offset, this.clusterSize, what);
  }

  async put(offset: number, data: Buffer, dirty: boolean): Promise<void> {
    this.tables.set(offset, { data, dirty });
    if (this.tables.size <= L2_CACHE_TABLES) return;
    for (const [key, value] of this.tables) {
      if (this.tables.size <= L2_CACHE_TABLES) break;
      if (value.dirty) await this.writeEvicted(key, value.data);
      this.tables.delete(key);
    }
  }

  /** Marks `table`, the table at `offset`, changed; caches it again if it was pushed out meanwhile. */
  async markDirty(offset: number, table: Buffer): Promise<void> {
    const cached = this.tables.get(offset);
    if (cached) cached.dirty = true;
    else await this.put(offset, table, true);
  }

  /** Drops a table whose cluster was freed. */
  forget(offset: number): void {
    this.tables.delete(offset);
  }

  dirtyOffsets(): number[] {
    return [...this.tables].filter(([, table]) => table.dirty).map(([offset]) => offset);
  }

  /** The table at `from` now lives at `to` (it moved to a new cluster before being written). */
  rename(from: number, to: number): void {
    const table = this.tables.get(from);
    if (!table) return;
    this.tables.delete(from);
    this.tables.set(to, table);
  }

  /** Writes every changed table where it is; the caller has put what they reference on disk first. */
  async writeBack(): Promise<void> {
    for (const [offset, entry] of this.tables) {
      if (entry.dirty) {
        await this.file.write(offset, entry.data);
        entry.dirty = false;
      }
    }
  }
}
