import { open } from 'node:fs/promises';
import { Qcow2Header, serializeHeader } from './header';
import { ImageUsageError } from './qcow2-errors';
import { MAX_CLUSTER_BITS, MAX_L1_BYTES, MAX_OFFSET, MIN_CLUSTER_BITS } from './limits';

export interface CreateOptions {
  /** Virtual size in bytes; rounded up to whole 512-byte sectors as QEMU does. */
  size: number;
  /** Default 64 KiB. */
  clusterSize?: number;
  /** "1.1" (v3, default) or "0.10" (v2). */
  compat?: '0.10' | '1.1';
  /** 1..64, a power of two; v2 images are always 16. */
  refcountBits?: number;
  backingFile?: string;
  backingFormat?: 'qcow2' | 'raw';
}

/** Writes a new, empty qcow2 image: header, refcount table and blocks, L1 table. Fails if `path` exists. */
export async function createImage(path: string, options: CreateOptions): Promise<void> {
  const clusterSize = options.clusterSize ?? 65536;
  const clusterBits = Math.log2(clusterSize);
  if (!Number.isInteger(clusterBits) || clusterBits < MIN_CLUSTER_BITS || clusterBits > MAX_CLUSTER_BITS) {
    throw new ImageUsageError(`cluster size ${clusterSize} must be a power of two from 512 to 2097152`);
  }
  const version = options.compat === '0.10' ? 2 : 3;
  const refcountBits = options.refcountBits ?? 16;
  const refcountOrder = Math.log2(refcountBits);
  if (!Number.isInteger(refcountOrder) || refcountOrder < 0 || refcountOrder > 6)
    throw new ImageUsageError(`refcount bits ${refcountBits} must be a power of two from 1 to 64`);
  if (version === 2 && refcountBits !== 16) throw new ImageUsageError('compat 0.10 images have 16-bit refcounts');
  if (!Number.isSafeInteger(options.size) || options.size < 0 || options.size > MAX_OFFSET) throw new ImageUsageError(`invalid virtual size ${options.size}`);
  const size = Math.ceil(options.size / 512) * 512;
  const l2Entries = clusterSize / 8;
  const l1Size = Math.ceil(Math.ceil(size / clusterSize) / l2Entries);
  if (l1Size * 8 > MAX_L1_BYTES) throw new ImageUsageError(`virtual size ${options.size} needs an L1 table over 32 MiB; use larger clusters`);
  const l1Clusters = Math.ceil((l1Size * 8) / clusterSize);
  const perBlock = (clusterSize * 8) / refcountBits;
  let tableClusters = 1;
  let blockClusters = 1;
  for (;;) {
    const total = 1 + tableClusters + blockClusters + l1Clusters;
    const blocks = Math.ceil(total / perBlock);
    const table = Math.ceil((blocks * 8) / clusterSize);
    if (blocks === blockClusters && table === tableClusters) break;
    blockClusters = blocks;
    tableClusters = table;
  }
  const total = 1 + tableClusters + blockClusters + l1Clusters;
  const header: Qcow2Header = {
    version,
    clusterBits,
    size,
    l1Size,
    l1TableOffset: (1 + tableClusters + blockClusters) * clusterSize,
    refcountTableOffset: clusterSize,
    refcountTableClusters: tableClusters,
    nbSnapshots: 0,
    snapshotsOffset: 0,
    incompatibleFeatures: 0n,
    compatibleFeatures: 0n,
    autoclearFeatures: 0n,
    refcountOrder,
    headerLength: version === 3 ? 112 : 72,
    compressionType: 'deflate',
    backingFile: options.backingFile,
    backingFormat: options.backingFile ? options.backingFormat : undefined,
    extensions: [],
  };
  const image = Buffer.alloc(total * clusterSize);
  serializeHeader(header).copy(image, 0);
  for (let b = 0; b < blockClusters; b++) image.writeBigUInt64BE(BigInt((1 + tableClusters + b) * clusterSize), clusterSize + b * 8);
  // every metadata cluster has refcount 1
  for (let c = 0; c < total; c++) {
    const block = (1 + tableClusters + Math.floor(c / perBlock)) * clusterSize;
    const index = c % perBlock;
    if (refcountBits < 8) {
      const perByte = 8 / refcountBits;
      image[block + Math.floor(index / perByte)] |= 1 << (refcountBits * (index % perByte));
    } else {
      image.writeUIntBE(1, block + index * (refcountBits / 8) + (refcountBits > 48 ? refcountBits / 8 - 6 : 0), Math.min(6, refcountBits / 8));
    }
  }
  const handle = await open(path, 'wx');
  try {
    await handle.write(image, 0, image.length, 0);
    await handle.datasync();
  } finally {
    await handle.close();
  }
}
