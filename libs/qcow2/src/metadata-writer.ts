import { ClusterAllocator } from './allocation';
import { Qcow2Header, serializeHeader } from './header';
import { ImageFile } from './image-file';
import { Refcounts } from './refcounts';
import { ActiveL1, ClusterTables, l1Bytes } from './tables';

/**
 * Writes cached metadata back so that a crash at any moment leaves an image that `qemu-img check` finds
 * consistent: it may leak clusters, but no reference reaches a cluster whose refcount is too low or whose
 * content is not on disk, and the COPIED flags of the active tables match their refcounts. Between the steps
 * that rely on each other sits a barrier (fdatasync); a barrier with nothing written before it costs nothing.
 *
 * flush() updates the image in place, in phases:
 *   1. guest data (written as it came) and every raised refcount, new refcount blocks included
 *   2. what makes new refcount blocks reachable: the refcount table, or a header naming a moved one
 *   3. L2 tables
 *   4. the L1 table and the header
 *   5. the refcounts that dropped, deferred until the tables no longer reference their clusters
 *
 * That cannot change a COPIED flag of a cluster that stays referenced: taking or dropping a snapshot moves
 * refcounts between 1 and 2 and flips the flags in other clusters, and no order of those writes is consistent.
 * Such changes go through atomically(): every structure the state on disk uses and the change modifies — L2
 * tables, the L1 table, refcount blocks, the refcount table — is written to new clusters instead, and one
 * header write switches to all of them.
 */
export class MetadataWriter {
  /** The header as it is on disk. */
  private written: Qcow2Header;
  private atomic = false;

  constructor(
    private readonly file: ImageFile,
    private readonly header: Qcow2Header,
    private readonly refcounts: Refcounts,
    private readonly tables: ClusterTables,
    private readonly active: ActiveL1,
    private readonly allocator: ClusterAllocator,
  ) {
    this.written = copyHeader(header);
  }

  get inAtomicChange(): boolean {
    return this.atomic;
  }

  async flush(): Promise<void> {
    await this.persistRaisedRefcounts();
    await this.tables.cache.writeBack();
    await this.file.barrier();
    if (this.active.dirty) {
      await this.file.write(this.header.l1TableOffset, l1Bytes(this.active.entries, this.tables.clusterSize));
      this.active.dirty = false;
    }
    await this.writeHeader(this.header);
    await this.file.barrier();
    if (await this.refcounts.applyDeferredReleases()) {
      await this.refcounts.writeBlocks();
      await this.file.barrier();
    }
  }

  /** Runs `change` on the cached metadata and commits it with one header write (see the class comment). */
  async atomically(change: () => Promise<void>): Promise<void> {
    await this.flush();
    this.refcounts.beginAtomicChange();
    this.atomic = true;
    await change();
    for (const offset of this.tables.cache.dirtyOffsets()) {
      if (!this.refcounts.isFresh(offset)) this.tables.cache.rename(offset, await this.allocator.moveL2Table(offset));
    }
    if (this.active.dirty && !this.refcounts.isFresh(this.header.l1TableOffset)) await this.moveActiveL1();
    await this.refcounts.relocateForCommit();
    await this.tables.cache.writeBack();
    if (this.active.dirty) {
      await this.file.write(this.header.l1TableOffset, l1Bytes(this.active.entries, this.tables.clusterSize));
      this.active.dirty = false;
    }
    await this.refcounts.writeBlocks();
    await this.refcounts.writeTable();
    await this.file.barrier();
    await this.writeHeader(this.header);
    await this.file.barrier();
    this.refcounts.endAtomicChange();
    this.atomic = false;
  }

  /** Writes an L2 table the cache pushes out, keeping the order flush() keeps (or the atomic change's rule). */
  async writeEvictedL2(offset: number, data: Buffer): Promise<void> {
    if (this.atomic) {
      const target = this.refcounts.isFresh(offset) ? offset : await this.allocator.moveL2Table(offset);
      await this.file.write(target, data);
      return;
    }
    await this.persistRaisedRefcounts();
    await this.file.write(offset, data);
  }

  /** Phases 1 and 2 of flush(). */
  private async persistRaisedRefcounts(): Promise<void> {
    const tableMoved = this.refcounts.layout.tableOffset !== this.written.refcountTableOffset;
    await this.refcounts.writeBlocks();
    if (tableMoved) await this.refcounts.writeTable(); // new clusters, which nothing on disk names yet
    await this.file.barrier();
    if (tableMoved) {
      // only the refcount table changes here: the header's other changes may name tables not yet written
      const { tableOffset, tableClusters } = this.refcounts.layout;
      await this.writeHeader({ ...this.written, refcountTableOffset: tableOffset, refcountTableClusters: tableClusters });
    } else {
      await this.refcounts.writeTable();
    }
    await this.file.barrier();
  }

  private async moveActiveL1(): Promise<void> {
    const old = { offset: this.header.l1TableOffset, size: this.header.l1Size };
    this.header.l1TableOffset = await this.allocator.writeNewL1(this.active.entries);
    this.active.dirty = false;
    await this.allocator.releaseL1(old.offset, old.size);
  }

  private async writeHeader(header: Qcow2Header): Promise<void> {
    const bytes = serializeHeader(header);
    if (bytes.equals(serializeHeader(this.written))) return;
    await this.file.write(0, bytes);
    this.written = copyHeader(header);
  }
}

function copyHeader(header: Qcow2Header): Qcow2Header {
  return { ...header, extensions: [...header.extensions] };
}
