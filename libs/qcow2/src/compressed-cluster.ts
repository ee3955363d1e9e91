import { inflateRawSync } from 'node:zlib';
import { DCtx, findFrameCompressedSize } from 'zstd-napi/binding';
import { CompressionType } from './header';
import { ImageFile } from './image-file';
import { InvalidImageError, hex } from './qcow2-errors';

/** Reads compressed clusters (deflate or zstd); the last one is kept, as sequential reads ask for it per chunk. */
export class CompressedClusterReader {
  private readonly zstd = new DCtx();
  private last?: { offset: number; data: Buffer };

  constructor(
    private readonly file: ImageFile,
    private readonly compressionType: CompressionType,
    private readonly clusterSize: number,
  ) {}

  /** The guest bytes of the compressed cluster at host `offset` (`size` bytes at most) for guest cluster `cluster`. */
  async read(offset: number, size: number, cluster: number): Promise<Buffer> {
    if (this.last?.offset === offset) return this.last.data;
    const available = Math.min(size, this.file.size - offset);
    if (available <= 0)
      throw new InvalidImageError(`compressed cluster offset (guest offset ${hex(cluster * this.clusterSize)})`, offset, 'lies beyond the end of the file');
    const compressed = await this.file.readExact(offset, available, 'compressed cluster');
    let data: Buffer;
    try {
      data =
        this.compressionType === 'zstd'
          ? this.decompressZstd(offset, compressed)
          : inflateRawSync(compressed, { finishFlush: 2 /* Z_SYNC_FLUSH: trailing sector padding is not an error */, maxOutputLength: this.clusterSize });
    } catch (error) {
      if (error instanceof InvalidImageError) throw error;
      throw new InvalidImageError(`compressed cluster at`, offset, `does not decompress (${(error as Error).message})`);
    }
    if (data.length < this.clusterSize) {
      throw new InvalidImageError('compressed cluster at', offset, `decompresses to ${data.length} bytes, not a whole cluster`);
    }
    this.last = { offset, data: data.subarray(0, this.clusterSize) };
    return this.last.data;
  }

  /**
   * One frame, then sector padding: the frame alone, into one cluster's memory. A frame that holds more than a cluster is
   * refused, never grown into (a few KiB of zstd can stand for gigabytes).
   */
  private decompressZstd(offset: number, compressed: Buffer): Buffer {
    const cluster = Buffer.allocUnsafe(this.clusterSize);
    const frame = compressed.subarray(0, findFrameCompressedSize(compressed));
    try {
      return cluster.subarray(0, this.zstd.decompress(cluster, frame));
    } catch (error) {
      if (!/too small/i.test((error as Error).message)) throw error;
      throw new InvalidImageError('compressed cluster at', offset, `decompresses to more than one cluster (${this.clusterSize} bytes)`);
    }
  }
}
