import { BackingSource } from './backing';
import { CompressedClusterReader } from './compressed-cluster';
import { Qcow2Header } from './header';
import { ImageFile } from './image-file';
import { ClusterMapping } from './l2-entry';
import { ImageUsageError } from './qcow2-errors';
import { ClusterTables, View } from './tables';

/** Guest reads of any point in time: data, compressed and subcluster allocations, zeros, the backing file. */
export class GuestReader {
  private readonly compressed: CompressedClusterReader;

  constructor(
    private readonly file: ImageFile,
    header: Qcow2Header,
    private readonly tables: ClusterTables,
    private readonly backing: BackingSource | undefined,
  ) {
    this.compressed = new CompressedClusterReader(file, header.compressionType, tables.clusterSize);
  }

  async read(view: View, offset: number, length: number): Promise<Buffer> {
    const out = Buffer.alloc(Math.max(0, length));
    await this.readInto(view, offset, out);
    return out;
  }

  async readInto(view: View, offset: number, out: Buffer): Promise<void> {
    const clusterSize = this.tables.clusterSize;
    const length = out.length;
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + length > view.size) {
      throw new ImageUsageError(`cannot read ${length} bytes at ${offset}: the image is ${view.size} bytes`);
    }
    let done = 0;
    while (done < length) {
      const guest = offset + done;
      const cluster = Math.floor(guest / clusterSize);
      const inCluster = guest % clusterSize;
      let chunk = Math.min(clusterSize - inCluster, length - done);
      const mapping = await this.tables.mapping(view, cluster);
      if (mapping.kind === 'data') {
        // extend over following clusters that are contiguous on the host: one read for a sequential run
        let expectedHost = mapping.offset + clusterSize;
        for (let next = cluster + 1; done + chunk < length; next++, expectedHost += clusterSize) {
          const following = await this.tables.mapping(view, next);
          if (following.kind !== 'data' || following.offset !== expectedHost) break;
          chunk += Math.min(clusterSize, length - done - chunk);
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
    const clusterSize = this.tables.clusterSize;
    const sub = clusterSize / 32;
    let done = 0;
    while (done < length) {
      const inCluster = (guest + done) % clusterSize;
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
}
