import { inflateRawSync } from 'node:zlib';
import { Decompressor } from 'zstd-napi';
import { findFrameCompressedSize } from 'zstd-napi/binding';
import { CompressionType } from './header';
import { ImageFile } from './image-file';
import { InvalidImageError, hex } from './qcow2-errors';

/** Reads compressed clusters (deflate or zstd); the last one is kept, as sequential reads ask for it per chunk. */
export class CompressedClusterReader {
  private readonly decompressor = new Decompressor();
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
          ? // one frame, then sector padding: decompress the frame alone
            this.decompressor.decompress(compressed.subarray(0, findFrameCompressedSize(compressed)))
          : inflateRawSync(compressed, { finishFlush: 2 /* Z_SYNC_FLUSH: trailing sector padding is not an error */, maxOutputLength: this.clusterSize });
    } catch (error) {
      throw new InvalidImageError(`compressed cluster at`, offset, `does not decompress (${(error as Error).message})`);
    }
    if (data.length < this.clusterSize) {
      throw new InvalidImageError('compressed cluster at', offset, `decompresses to ${data.length} bytes, not a whole cluster`);
    }
    this.last = { offset, data: data.subarray(0, this.clusterSize) };
    return this.last.data;
  }
}
