import { ImageFile } from './image-file';
import { ImageUsageError, InvalidImageError, UnsupportedFeatureError, hex } from './qcow2-errors';
import {
  EXT_BACKING_FORMAT,
  EXT_DATA_FILE,
  EXT_ENCRYPTION,
  EXT_END,
  EXT_FEATURE_NAMES,
  MAX_BACKING_NAME,
  MAX_CLUSTER_BITS,
  MAX_L1_BYTES,
  MAX_OFFSET,
  MAX_REFCOUNT_ORDER,
  MAX_REFTABLE_BYTES,
  MAX_SNAPSHOTS,
  MIN_CLUSTER_BITS,
  QCOW_MAGIC,
} from './limits';

export interface HeaderExtension {
  type: number;
  data: Buffer;
}

export type CompressionType = 'deflate' | 'zstd';

/** The qcow2 header with its extensions and backing file name, validated. */
export interface Qcow2Header {
  version: 2 | 3;
  clusterBits: number;
  /** Virtual (guest) size in bytes. */
  size: number;
  l1Size: number;
  l1TableOffset: number;
  refcountTableOffset: number;
  refcountTableClusters: number;
  nbSnapshots: number;
  snapshotsOffset: number;
  incompatibleFeatures: bigint;
  compatibleFeatures: bigint;
  autoclearFeatures: bigint;
  refcountOrder: number;
  headerLength: number;
  compressionType: CompressionType;
  backingFile?: string;
  backingFormat?: string;
  /** Every extension but backing format (which is kept in `backingFormat`), preserved on rewrite. */
  extensions: HeaderExtension[];
}

/** Incompatible feature bits (v3 header): an image with a bit its reader does not know must be refused. */
export const INCOMPAT_DIRTY = 1n << 0n;
export const INCOMPAT_CORRUPT = 1n << 1n;
export const INCOMPAT_DATA_FILE = 1n << 2n;
export const INCOMPAT_COMPRESSION = 1n << 3n;
export const INCOMPAT_EXTL2 = 1n << 4n;

/** The incompatible features this implementation reads. */
export const INCOMPAT_SUPPORTED = INCOMPAT_DIRTY | INCOMPAT_CORRUPT | INCOMPAT_COMPRESSION | INCOMPAT_EXTL2;

export const COMPAT_LAZY_REFCOUNTS = 1n << 0n;
export const AUTOCLEAR_BITMAPS = 1n << 0n;

export function hasFeature(features: bigint, bit: bigint): boolean {
  return (features & bit) !== 0n;
}

/** Refuses incompatible features this implementation cannot read at all. */
export function requireSupportedFeatures(incompatible: bigint): void {
  if (incompatible & INCOMPAT_DATA_FILE) throw new UnsupportedFeatureError('images with an external data file are not supported');
  const unknown = incompatible & ~INCOMPAT_SUPPORTED;
  if (unknown) throw new UnsupportedFeatureError(`unknown incompatible features ${hex(unknown)}`);
}

/** Refuses a writable open of an image it can only read: one marked corrupt, or one with extended L2 entries. */
export function requireWritableFeatures(incompatible: bigint): void {
  if (incompatible & INCOMPAT_CORRUPT) {
    throw new ImageUsageError('the image is marked corrupt: it can only be opened read-only (repair it with qemu-img check -r all)');
  }
  if (incompatible & INCOMPAT_EXTL2) {
    throw new UnsupportedFeatureError('writing images with extended L2 entries (subclusters) is not supported; open read-only');
  }
}

const V2_HEADER_LENGTH = 72;
const V3_MIN_HEADER_LENGTH = 104;

/** Reads a u64 field as a number, refusing values that a JS number cannot hold exactly. */
function u64(buf: Buffer, at: number, field: string): number {
  const value = buf.readBigUInt64BE(at);
  if (value > BigInt(MAX_OFFSET)) throw new InvalidImageError(field, value, 'is too large');
  return Number(value);
}

function requireAligned(field: string, value: number, clusterSize: number): void {
  if (value % clusterSize !== 0) throw new InvalidImageError(field, value, 'is not cluster aligned');
}

/** Cluster size from the first bytes, so the caller can read the whole of cluster 0 (header and extensions). */
export function peekClusterBits(start: Buffer): number {
  if (start.length < V2_HEADER_LENGTH) throw new InvalidImageError('file size', start.length, 'is smaller than a qcow2 header');
  const magic = start.readUInt32BE(0);
  if (magic !== QCOW_MAGIC) throw new InvalidImageError('magic', magic, 'is not a qcow2 image (expected 0x514649fb)');
  const version = start.readUInt32BE(4);
  if (version !== 2 && version !== 3) throw new UnsupportedFeatureError(`qcow2 version ${version} is not supported (only 2 and 3)`);
  const bits = start.readUInt32BE(20);
  if (bits < MIN_CLUSTER_BITS || bits > MAX_CLUSTER_BITS) {
    throw new InvalidImageError('cluster_bits', bits, `is outside ${MIN_CLUSTER_BITS}..${MAX_CLUSTER_BITS}`);
  }
  return bits;
}

/** Reads and validates an image's header: its first bytes give the cluster size, cluster 0 holds the rest. */
export async function readHeader(file: ImageFile): Promise<Qcow2Header> {
  const start = Buffer.alloc(Math.min(file.size, 512));
  await file.readData(0, start);
  const cluster0 = Buffer.alloc(Math.min(file.size, 2 ** peekClusterBits(start)));
  await file.readData(0, cluster0);
  return parseHeader(cluster0);
}

/** Parses and validates the header in `cluster0` (the first cluster of the file, or all of a smaller file). */
export function parseHeader(cluster0: Buffer): Qcow2Header {
  const clusterBits = peekClusterBits(cluster0);
  const clusterSize = 2 ** clusterBits;
  const version = cluster0.readUInt32BE(4) as 2 | 3;
  const headerLength = version === 2 ? V2_HEADER_LENGTH : cluster0.readUInt32BE(100);
  if (version === 3) {
    if (cluster0.length < V3_MIN_HEADER_LENGTH) throw new InvalidImageError('file size', cluster0.length, 'is smaller than a v3 header');
    if (headerLength < V3_MIN_HEADER_LENGTH) throw new InvalidImageError('header_length', headerLength, `is smaller than ${V3_MIN_HEADER_LENGTH}`);
    if (headerLength > clusterSize) throw new InvalidImageError('header_length', headerLength, 'is larger than a cluster');
    if (headerLength > cluster0.length) throw new InvalidImageError('header_length', headerLength, 'extends beyond the end of the file');
  }
  const cryptMethod = cluster0.readUInt32BE(32);
  if (cryptMethod !== 0) throw new UnsupportedFeatureError(`encrypted images are not supported (crypt_method ${cryptMethod})`);

  const incompatibleFeatures = version === 3 ? cluster0.readBigUInt64BE(72) : 0n;
  const compatibleFeatures = version === 3 ? cluster0.readBigUInt64BE(80) : 0n;
  const autoclearFeatures = version === 3 ? cluster0.readBigUInt64BE(88) : 0n;
  requireSupportedFeatures(incompatibleFeatures);
  const refcountOrder = version === 3 ? cluster0.readUInt32BE(96) : 4;
  if (refcountOrder > MAX_REFCOUNT_ORDER) throw new InvalidImageError('refcount_order', refcountOrder, `is larger than ${MAX_REFCOUNT_ORDER}`);

  let compressionType: CompressionType = 'deflate';
  const compressionByte = version === 3 && headerLength > 104 ? cluster0[104] : 0;
  if (incompatibleFeatures & INCOMPAT_COMPRESSION) {
    if (compressionByte === 1) compressionType = 'zstd';
    else if (compressionByte !== 0) throw new InvalidImageError('compression_type', compressionByte, 'is not deflate (0) or zstd (1)');
  } else if (compressionByte !== 0) {
    throw new InvalidImageError('compression_type', compressionByte, 'is set but the compression type feature bit is not');
  }

  const size = u64(cluster0, 24, 'size');
  const l1Size = cluster0.readUInt32BE(36);
  const l1TableOffset = u64(cluster0, 40, 'l1_table_offset');
  const l2Entries = clusterSize / (incompatibleFeatures & INCOMPAT_EXTL2 ? 16 : 8);
  const clustersNeeded = Math.ceil(size / clusterSize);
  const l1Needed = Math.ceil(clustersNeeded / l2Entries);
  if (l1Size * 8 > MAX_L1_BYTES) throw new InvalidImageError('l1_size', l1Size, `needs more than ${MAX_L1_BYTES} bytes`);
  if (l1Size < l1Needed) throw new InvalidImageError('l1_size', l1Size, `is too small for the virtual size ${size} (needs ${l1Needed})`);
  if (l1Size > 0) requireAligned('L1 table offset', l1TableOffset, clusterSize);
  if (l1Size > 0 && l1TableOffset === 0) throw new InvalidImageError('L1 table offset', 0, 'is zero for a non-empty L1 table');
  if (l1TableOffset > MAX_OFFSET - l1Size * 8) throw new InvalidImageError('L1 table offset', l1TableOffset, 'plus its size overflows');

  const refcountTableOffset = u64(cluster0, 48, 'refcount_table_offset');
  const refcountTableClusters = cluster0.readUInt32BE(56);
  requireAligned('refcount table offset', refcountTableOffset, clusterSize);
  if (refcountTableOffset === 0) throw new InvalidImageError('refcount table offset', 0, 'is zero');
  if (refcountTableClusters === 0) throw new InvalidImageError('refcount_table_clusters', 0, 'is zero');
  if (refcountTableClusters > MAX_REFTABLE_BYTES / clusterSize) {
    throw new InvalidImageError('refcount_table_clusters', refcountTableClusters, `makes the refcount table larger than ${MAX_REFTABLE_BYTES} bytes`);
  }

  const nbSnapshots = cluster0.readUInt32BE(60);
  const snapshotsOffset = u64(cluster0, 64, 'snapshots_offset');
  if (nbSnapshots > MAX_SNAPSHOTS) throw new InvalidImageError('nb_snapshots', nbSnapshots, `is more than ${MAX_SNAPSHOTS}`);
  if (nbSnapshots > 0) {
    requireAligned('snapshot table offset', snapshotsOffset, clusterSize);
    if (snapshotsOffset === 0) throw new InvalidImageError('snapshot table offset', 0, 'is zero with snapshots present');
  }

  const header: Qcow2Header = {
    version,
    clusterBits,
    size,
    l1Size,
    l1TableOffset,
    refcountTableOffset,
    refcountTableClusters,
    nbSnapshots,
    snapshotsOffset,
    incompatibleFeatures,
    compatibleFeatures,
    autoclearFeatures,
    refcountOrder,
    headerLength,
    compressionType,
    extensions: [],
  };
  parseExtensions(cluster0, header, clusterSize);
  parseBackingFile(cluster0, header, clusterSize);
  return header;
}

function parseExtensions(cluster0: Buffer, header: Qcow2Header, clusterSize: number): void {
  const limit = Math.min(clusterSize, cluster0.length);
  let at = header.headerLength;
  for (;;) {
    if (at + 8 > limit) throw new InvalidImageError('header extension', at, 'runs past the end of cluster 0');
    const type = cluster0.readUInt32BE(at);
    const length = cluster0.readUInt32BE(at + 4);
    if (type === EXT_END) return;
    if (length > limit - at - 8) throw new InvalidImageError(`header extension ${hex(type)} length`, length, 'runs past the end of cluster 0');
    const data = Buffer.from(cluster0.subarray(at + 8, at + 8 + length));
    if (type === EXT_BACKING_FORMAT) header.backingFormat = data.toString('utf8');
    else if (type === EXT_ENCRYPTION) throw new UnsupportedFeatureError('images with a full disk encryption header are not supported');
    else if (type === EXT_DATA_FILE) throw new UnsupportedFeatureError('images with an external data file are not supported');
    else header.extensions.push({ type, data });
    at += 8 + Math.ceil(length / 8) * 8;
  }
}

function parseBackingFile(cluster0: Buffer, header: Qcow2Header, clusterSize: number): void {
  const offset = u64(cluster0, 8, 'backing_file_offset');
  const length = cluster0.readUInt32BE(16);
  if (offset === 0) return;
  if (length === 0) return;
  if (length > MAX_BACKING_NAME) throw new InvalidImageError('backing_file_size', length, `is longer than ${MAX_BACKING_NAME} bytes`);
  if (offset > clusterSize - length || offset + length > cluster0.length) {
    throw new InvalidImageError('backing_file_offset', offset, 'places the backing file name outside cluster 0');
  }
  header.backingFile = cluster0.toString('utf8', offset, offset + length);
}

/** The feature-name table, if the image carries one (for messages naming unknown features). */
export function featureNames(header: Qcow2Header): { type: number; bit: number; name: string }[] {
  const ext = header.extensions.find((e) => e.type === EXT_FEATURE_NAMES);
  if (!ext) return [];
  const names = [];
  for (let at = 0; at + 48 <= ext.data.length; at += 48) {
    names.push({ type: ext.data[at], bit: ext.data[at + 1], name: ext.data.toString('utf8', at + 2, at + 48).replace(/\0+$/, '') });
  }
  return names;
}

/** Writes the header, its extensions and the backing file name into a buffer of one cluster. */
export function serializeHeader(header: Qcow2Header): Buffer {
  const clusterSize = 2 ** header.clusterBits;
  const out = Buffer.alloc(clusterSize);
  out.writeUInt32BE(QCOW_MAGIC, 0);
  out.writeUInt32BE(header.version, 4);
  out.writeUInt32BE(header.clusterBits, 20);
  out.writeBigUInt64BE(BigInt(header.size), 24);
  out.writeUInt32BE(0, 32);
  out.writeUInt32BE(header.l1Size, 36);
  out.writeBigUInt64BE(BigInt(header.l1TableOffset), 40);
  out.writeBigUInt64BE(BigInt(header.refcountTableOffset), 48);
  out.writeUInt32BE(header.refcountTableClusters, 56);
  out.writeUInt32BE(header.nbSnapshots, 60);
  out.writeBigUInt64BE(BigInt(header.snapshotsOffset), 64);
  let at = V2_HEADER_LENGTH;
  if (header.version === 3) {
    out.writeBigUInt64BE(header.incompatibleFeatures, 72);
    out.writeBigUInt64BE(header.compatibleFeatures, 80);
    out.writeBigUInt64BE(header.autoclearFeatures, 88);
    out.writeUInt32BE(header.refcountOrder, 96);
    out.writeUInt32BE(header.headerLength, 100);
    if (header.headerLength > 104) out[104] = header.compressionType === 'zstd' ? 1 : 0;
    at = header.headerLength;
  }
  const extensions = [...header.extensions];
  if (header.backingFormat) extensions.unshift({ type: EXT_BACKING_FORMAT, data: Buffer.from(header.backingFormat, 'utf8') });
  for (const ext of extensions) {
    const padded = Math.ceil(ext.data.length / 8) * 8;
    if (at + 8 + padded + 8 > clusterSize) throw new InvalidImageError('header extensions', at, 'do not fit in cluster 0');
    out.writeUInt32BE(ext.type, at);
    out.writeUInt32BE(ext.data.length, at + 4);
    ext.data.copy(out, at + 8);
    at += 8 + padded;
  }
  out.writeUInt32BE(EXT_END, at);
  out.writeUInt32BE(0, at + 4);
  at += 8;
  if (header.backingFile) {
    const name = Buffer.from(header.backingFile, 'utf8');
    if (name.length > MAX_BACKING_NAME || at + name.length > clusterSize) {
      throw new InvalidImageError('backing file name', header.backingFile, 'does not fit in cluster 0');
    }
    name.copy(out, at);
    out.writeBigUInt64BE(BigInt(at), 8);
    out.writeUInt32BE(name.length, 16);
  }
  return out;
}
