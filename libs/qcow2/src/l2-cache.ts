import { ImageFile } from './image-file';
import { Refcounts } from './refcounts';

const L2_CACHE_TABLES = 512;

interface CachedTable {
  data: Buffer;
  dirty: boolean;
}

/**
 * L2 tables by host offset, least recently used first. A changed table is written back on flush, or when
 * it is pushed out — then after the refcounts, so no table reaches the disk before the clusters it
 * references are counted.
 */
export class L2Cache {
  private readonly tables = new Map<number, CachedTable>();

  constructor(
    private readonly file: ImageFile,
    private readonly refcounts: Refcounts,
    private readonly clusterSize: number,
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

  async put(offset: number, data: Buffer, dirty: boolean): Promise<void> {
    this.tables.set(offset, { data, dirty });
    if (this.tables.size <= L2_CACHE_TABLES) return;
    for (const [key, value] of this.tables) {
      if (this.tables.size <= L2_CACHE_TABLES) break;
      if (value.dirty) {
        await this.refcounts.flush();
        await this.file.write(key, value.data);
      }
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

  /** Writes every changed table; the caller has flushed the refcounts first. */
  async writeBack(): Promise<void> {
    for (const [offset, entry] of this.tables) {
      if (entry.dirty) {
        await this.file.write(offset, entry.data);
        entry.dirty = false;
      }
    }
  }
}
