import { ClusterAllocator } from './allocation';
import { GuestReader } from './guest-read';
import { Qcow2Header } from './header';
import { ImageFile } from './image-file';
import { ImageUsageError } from './qcow2-errors';
import { ActiveL1, ClusterTables } from './tables';
import { isAllZero } from './zero-bytes';

/**
 * Guest writes to the active image. A cluster the image owns alone (COPIED) is written in place; any other
 * gets a new cluster; whole clusters of zeros become zero entries where that reads the same.
 */
export class GuestWriter {
  constructor(
    private readonly header: Qcow2Header,
    private readonly file: ImageFile,
    private readonly tables: ClusterTables,
    private readonly active: ActiveL1,
    private readonly allocator: ClusterAllocator,
    private readonly reader: GuestReader,
    private readonly hasBacking: boolean,
  ) {}

  async write(offset: number, data: Buffer): Promise<void> {
    const { clusterSize, l2Entries } = this.tables;
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + data.length > this.header.size) {
      throw new ImageUsageError(`cannot write ${data.length} bytes at ${offset}: the image is ${this.header.size} bytes`);
    }
    let done = 0;
    while (done < data.length) {
      const guest = offset + done;
      const cluster = Math.floor(guest / clusterSize);
      const inCluster = guest % clusterSize;
      if (inCluster === 0 && data.length - done >= clusterSize) {
        // a run of whole clusters inside one L2 table: allocate them together, write them with one call
        const l2Left = l2Entries - (cluster % l2Entries);
        const count = Math.min(l2Left, Math.floor((data.length - done) / clusterSize));
        await this.writeWholeClusters(cluster, data.subarray(done, done + count * clusterSize));
        done += count * clusterSize;
        continue;
      }
      const chunk = Math.min(clusterSize - inCluster, data.length - done);
      await this.writePartialCluster(cluster, inCluster, data.subarray(done, done + chunk));
      done += chunk;
    }
  }

  async writeZeroes(offset: number, length: number): Promise<void> {
    const clusterSize = this.tables.clusterSize;
    if (offset + length > this.header.size) throw new ImageUsageError(`cannot zero ${length} bytes at ${offset}: the image is ${this.header.size} bytes`);
    let done = 0;
    while (done < length) {
      const guest = offset + done;
      const inCluster = guest % clusterSize;
      const chunk = Math.min(clusterSize - inCluster, length - done);
      if (chunk === clusterSize && this.canMarkZero()) await this.allocator.setZeroCluster(Math.floor(guest / clusterSize));
      else await this.write(guest, Buffer.alloc(chunk));
      done += chunk;
    }
  }

  /** A v2 image has no zero flag: unallocated reads as zeros only when there is no backing file. */
  private canMarkZero(): boolean {
    return this.header.version === 3 || !this.hasBacking;
  }

  private async writeWholeClusters(first: number, data: Buffer): Promise<void> {
    const { clusterSize, l2Entries } = this.tables;
    const count = data.length / clusterSize;
    const { table, l2Offset } = await this.allocator.writableL2(first);
    const fresh: number[] = [];
    for (let i = 0; i < count; i++) {
      const slice = data.subarray(i * clusterSize, (i + 1) * clusterSize);
      const index = (first + i) % l2Entries;
      const mapping = this.tables.decode(table, index, first + i);
      if (isAllZero(slice) && this.canMarkZero()) {
        await this.allocator.markZero(table, l2Offset, index, mapping);
      } else if (mapping.kind === 'data' && mapping.copied) {
        await this.file.writeData(mapping.offset, slice);
      } else {
        fresh.push(i);
      }
    }
    // clusters needing new space: allocate contiguous runs and write each run at once
    for (let r = 0; r < fresh.length;) {
      let n = 1;
      while (r + n < fresh.length && fresh[r + n] === fresh[r] + n) n++;
      await this.allocator.writeToNewClusters(table, l2Offset, first + fresh[r], data.subarray(fresh[r] * clusterSize, (fresh[r] + n) * clusterSize));
      r += n;
    }
  }

  private async writePartialCluster(cluster: number, inCluster: number, data: Buffer): Promise<void> {
    const clusterSize = this.tables.clusterSize;
    const { table, l2Offset } = await this.allocator.writableL2(cluster);
    const mapping = this.tables.decode(table, cluster % this.tables.l2Entries, cluster);
    if (mapping.kind === 'data' && mapping.copied) {
      await this.file.writeData(mapping.offset + inCluster, data);
      return;
    }
    // copy on write: the cluster's current guest content, with the new bytes over it
    const start = cluster * clusterSize;
    const content = await this.reader.read(this.active.view(), start, Math.min(clusterSize, this.header.size - start));
    const full = Buffer.alloc(clusterSize);
    content.copy(full);
    data.copy(full, inCluster);
    await this.allocator.writeToNewClusters(table, l2Offset, cluster, full);
  }
}
