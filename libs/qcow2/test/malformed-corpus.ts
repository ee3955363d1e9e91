import { compress } from 'zstd-napi';

/**
 * Malformed qcow2 images, each a valid base image with one field corrupted (in the spirit of QEMU's
 * iotest 080), and the error that must name it. Base images come from qemu-img (see malformed-images.spec).
 */
export interface MalformedCase {
  name: string;
  base: 'v3' | 'v2' | 'compressed' | 'zstd';
  mutate(image: Buffer, layout: Layout): void;
  /** What is done with the image: open it, read every guest byte, or check it. */
  action: 'open' | 'open-writable' | 'read-all' | 'check';
  expected: RegExp;
}

/** Offsets of the base image's structures, read from its header. */
export interface Layout {
  l1: number;
  refcountTable: number;
  snapshots: number;
  firstL2: number;
  firstRefblock: number;
  firstData: number;
  headerLength: number;
}

export function layoutOf(image: Buffer): Layout {
  const l1 = Number(image.readBigUInt64BE(40));
  const refcountTable = Number(image.readBigUInt64BE(48));
  const snapshots = Number(image.readBigUInt64BE(64));
  const firstL2 = Number(image.readBigUInt64BE(l1) & 0x00fffffffffffe00n);
  const firstRefblock = Number(image.readBigUInt64BE(refcountTable));
  const firstData = firstL2 ? Number(image.readBigUInt64BE(firstL2) & 0x00fffffffffffe00n) : 0;
  const version = image.readUInt32BE(4);
  return { l1, refcountTable, snapshots, firstL2, firstRefblock, firstData, headerLength: version === 3 ? image.readUInt32BE(100) : 72 };
}

const u32 = (at: number, value: number) => (b: Buffer) => b.writeUInt32BE(value >>> 0, at);
const u64 = (at: number, value: bigint) => (b: Buffer) => b.writeBigUInt64BE(value, at);
const orU64 = (at: number, bits: bigint) => (b: Buffer) => b.writeBigUInt64BE(b.readBigUInt64BE(at) | bits, at);
const FEATURES = 72;
/** The host offset of guest cluster 0's compressed data (64 KiB clusters: offset bits 0–53 of its L2 entry). */
const firstCompressedCluster = (b: Buffer, l: Layout) => Number(b.readBigUInt64BE(l.firstL2) & ((1n << 54n) - 1n));

/** The first header extension after the fixed header (the base images all have one: feature names). */
function firstExtension(_b: Buffer, l: Layout): number {
  return l.headerLength;
}

export const MALFORMED: MalformedCase[] = [
  // header fields
  { name: 'bad magic', base: 'v3', mutate: u32(0, 0x514649fa), action: 'open', expected: /^magic 0x514649fa is not a qcow2 image/ },
  { name: 'version 1', base: 'v3', mutate: u32(4, 1), action: 'open', expected: /qcow2 version 1 is not supported/ },
  { name: 'version 4', base: 'v3', mutate: u32(4, 4), action: 'open', expected: /qcow2 version 4 is not supported/ },
  { name: 'cluster_bits 8', base: 'v3', mutate: u32(20, 8), action: 'open', expected: /^cluster_bits 0x8 is outside 9..21/ },
  { name: 'cluster_bits 22', base: 'v3', mutate: u32(20, 22), action: 'open', expected: /^cluster_bits 0x16 is outside 9..21/ },
  { name: 'cluster_bits 0xffffffff', base: 'v3', mutate: u32(20, 0xffffffff), action: 'open', expected: /^cluster_bits 0xffffffff is outside/ },
  { name: 'AES encryption', base: 'v3', mutate: u32(32, 1), action: 'open', expected: /encrypted images are not supported \(crypt_method 1\)/ },
  { name: 'LUKS encryption', base: 'v3', mutate: u32(32, 2), action: 'open', expected: /crypt_method 2/ },
  { name: 'header_length below 104', base: 'v3', mutate: u32(100, 96), action: 'open', expected: /^header_length 0x60 is smaller than 104/ },
  {
    name: 'header_length above the cluster size',
    base: 'v3',
    mutate: u32(100, 65544),
    action: 'open',
    expected: /^header_length 0x10008 is larger than a cluster/,
  },
  {
    name: 'unknown incompatible feature bit',
    base: 'v3',
    mutate: orU64(FEATURES, 1n << 40n),
    action: 'open',
    expected: /unknown incompatible features 0x10000000000/,
  },
  { name: 'external data file bit', base: 'v3', mutate: orU64(FEATURES, 4n), action: 'open', expected: /external data file are not supported/ },
  { name: 'corrupt bit on a writable open', base: 'v3', mutate: orU64(FEATURES, 2n), action: 'open-writable', expected: /marked corrupt/ },
  { name: 'refcount_order 7', base: 'v3', mutate: u32(96, 7), action: 'open', expected: /^refcount_order 0x7 is larger than 6/ },
  {
    name: 'compression type 2',
    base: 'v3',
    mutate: (b) => {
      orU64(FEATURES, 8n)(b);
      b[104] = 2;
    },
    action: 'open',
    expected: /^compression_type 0x2 is not deflate \(0\) or zstd \(1\)/,
  },
  {
    name: 'compression type without its feature bit',
    base: 'v3',
    mutate: (b) => {
      b[104] = 1;
    },
    action: 'open',
    expected: /compression_type 0x1 is set but the compression type feature bit is not/,
  },
  { name: 'virtual size beyond 2^53', base: 'v3', mutate: u64(24, 1n << 60n), action: 'open', expected: /^size 0x1000000000000000 is too large/ },
  {
    name: 'l1_size too small for the size',
    base: 'v3',
    mutate: u64(24, 1n << 40n),
    action: 'open',
    expected: /^l1_size 0x1 is too small for the virtual size/,
  },
  { name: 'l1_size beyond 32 MiB', base: 'v3', mutate: u32(36, 0x400001), action: 'open', expected: /^l1_size 0x400001 needs more than 33554432 bytes/ },
  {
    name: 'L1 table offset not cluster aligned',
    base: 'v3',
    mutate: (b, l) => u64(40, BigInt(l.l1 + 0x200))(b),
    action: 'open',
    expected: /^L1 table offset 0x[0-9a-f]+ is not cluster aligned/,
  },
  { name: 'L1 table offset zero', base: 'v3', mutate: u64(40, 0n), action: 'open', expected: /^L1 table offset 0x0 is zero for a non-empty L1 table/ },
  {
    name: 'L1 table beyond the end of the file',
    base: 'v3',
    mutate: u64(40, 1n << 40n),
    action: 'open',
    expected: /^L1 table 0x10000000000 \(8 bytes\) lies beyond the end of the file/,
  },
  {
    name: 'L1 table offset that overflows',
    base: 'v3',
    mutate: u64(40, 0x1fffffffffff0000n),
    action: 'open',
    expected: /^l1_table_offset 0x1fffffffffff0000 is too large/,
  },
  {
    name: 'refcount table offset not aligned',
    base: 'v3',
    mutate: (b, l) => u64(48, BigInt(l.refcountTable + 8))(b),
    action: 'open',
    expected: /^refcount table offset 0x[0-9a-f]+ is not cluster aligned/,
  },
  { name: 'refcount table offset zero', base: 'v3', mutate: u64(48, 0n), action: 'open', expected: /^refcount table offset 0x0 is zero/ },
  {
    name: 'refcount table beyond the end of the file',
    base: 'v3',
    mutate: u64(48, 1n << 40n),
    action: 'open',
    expected: /^refcount table 0x10000000000 .* lies beyond the end of the file/,
  },
  { name: 'refcount_table_clusters zero', base: 'v3', mutate: u32(56, 0), action: 'open', expected: /^refcount_table_clusters 0x0 is zero/ },
  {
    name: 'refcount table over 8 MiB',
    base: 'v3',
    mutate: u32(56, 129),
    action: 'open',
    expected: /^refcount_table_clusters 0x81 makes the refcount table larger than 8388608 bytes/,
  },
  { name: 'nb_snapshots over 65536', base: 'v3', mutate: u32(60, 65537), action: 'open', expected: /^nb_snapshots 0x10001 is more than 65536/ },
  {
    name: 'snapshot table offset not aligned',
    base: 'v3',
    mutate: (b, l) => u64(64, BigInt(l.snapshots + 8))(b),
    action: 'open',
    expected: /^snapshot table offset 0x[0-9a-f]+ is not cluster aligned/,
  },
  {
    name: 'snapshot table offset zero with snapshots',
    base: 'v3',
    mutate: u64(64, 0n),
    action: 'open',
    expected: /^snapshot table offset 0x0 is zero with snapshots present/,
  },
  {
    name: 'snapshot table beyond the end of the file',
    base: 'v3',
    mutate: u64(64, 1n << 40n),
    action: 'open',
    expected: /^snapshot table offset 0x10000000000 lies beyond the end of the file/,
  },
  {
    name: 'more snapshots than the table holds',
    base: 'v3',
    mutate: u32(60, 500),
    action: 'open',
    expected: /^snapshot \d+ (header|entry) 0x[0-9a-f]+ (lies beyond|runs past)/,
  },
  // snapshot entries
  {
    name: 'snapshot L1 offset not aligned',
    base: 'v3',
    mutate: (b, l) => orU64(l.snapshots, 0x100n)(b),
    action: 'open',
    expected: /^snapshot 0 L1 table offset 0x[0-9a-f]+ is not cluster aligned/,
  },
  {
    name: 'snapshot l1_size beyond 32 MiB',
    base: 'v3',
    mutate: (b, l) => u32(l.snapshots + 8, 0x400001)(b),
    action: 'open',
    expected: /^snapshot 0 l1_size 0x400001 needs more than 33554432 bytes/,
  },
  {
    name: 'snapshot extra data over 1024 bytes',
    base: 'v3',
    mutate: (b, l) => u32(l.snapshots + 36, 1025)(b),
    action: 'open',
    expected: /^snapshot 0 extra_data_size 0x401 is larger than 1024/,
  },
  {
    name: 'v3 snapshot with less than 16 bytes of extra data',
    base: 'v3',
    mutate: (b, l) => u32(l.snapshots + 36, 8)(b),
    action: 'open',
    expected: /^snapshot 0 extra_data_size 0x8 is smaller than the 16 bytes v3 requires/,
  },
  {
    name: 'snapshot name running past the table',
    base: 'v3',
    mutate: (b, l) => {
      b.writeUInt16BE(0xffff, l.snapshots + 12);
      b.writeUInt16BE(0xffff, l.snapshots + 14);
    },
    action: 'open',
    expected: /^snapshot 0 entry 0x0 runs past the end of the snapshot table/,
  },
  {
    name: 'snapshot disk size beyond 2^53',
    base: 'v3',
    mutate: (b, l) => u64(l.snapshots + 48, 1n << 62n)(b),
    action: 'open',
    expected: /^snapshot 0 disk_size 0x4000000000000000 is too large/,
  },
  // backing file and extensions
  {
    name: 'backing file name over 1023 bytes',
    base: 'v3',
    mutate: (b) => {
      u64(8, 1024n)(b);
      u32(16, 1024)(b);
    },
    action: 'open',
    expected: /^backing_file_size 0x400 is longer than 1023 bytes/,
  },
  {
    name: 'backing file name outside cluster 0',
    base: 'v3',
    mutate: (b) => {
      u64(8, 65500n)(b);
      u32(16, 100)(b);
    },
    action: 'open',
    expected: /^backing_file_offset 0xffdc places the backing file name outside cluster 0/,
  },
  {
    name: 'missing backing file',
    base: 'v3',
    mutate: (b) => {
      b.write('no-such-base.qcow2\0', 2048);
      u64(8, 2048n)(b);
      u32(16, 18)(b);
    },
    action: 'open',
    expected: /backing file no-such-base.qcow2 cannot be opened/,
  },
  {
    name: 'header extension longer than cluster 0',
    base: 'v3',
    mutate: (b, l) => u32(firstExtension(b, l) + 4, 70000)(b),
    action: 'open',
    expected: /^header extension 0x[0-9a-f]+ length 0x11170 runs past the end of cluster 0/,
  },
  {
    name: 'header extensions without an end marker',
    base: 'v3',
    mutate: (b, l) => {
      for (let at = firstExtension(b, l); at < 65536; at += 8) {
        b.writeUInt32BE(0x12345678, at);
        b.writeUInt32BE(0, at + 4);
      }
    },
    action: 'open',
    expected: /^header extension 0x[0-9a-f]+ runs past the end of cluster 0/,
  },
  {
    name: 'full disk encryption extension',
    base: 'v3',
    mutate: (b, l) => u32(firstExtension(b, l), 0x0537be77)(b),
    action: 'open',
    expected: /full disk encryption header are not supported/,
  },
  {
    name: 'external data file extension',
    base: 'v3',
    mutate: (b, l) => u32(firstExtension(b, l), 0x44415441)(b),
    action: 'open',
    expected: /external data file are not supported/,
  },
  // L1/L2 tables
  {
    name: 'L1 entry with reserved bits',
    base: 'v3',
    mutate: (b, l) => orU64(l.l1, 1n << 60n)(b),
    action: 'read-all',
    expected: /^L1 entry 0 0x[0-9a-f]+ has reserved bits set/,
  },
  {
    name: 'L2 table offset not aligned',
    base: 'v3',
    mutate: (b, l) => orU64(l.l1, 0x200n)(b),
    action: 'read-all',
    expected: /^L2 table offset \(L1 entry 0\) 0x[0-9a-f]+ is not cluster aligned/,
  },
  {
    name: 'L2 table beyond the end of the file',
    base: 'v3',
    mutate: (b, l) => u64(l.l1, (1n << 40n) | (1n << 63n))(b),
    action: 'read-all',
    expected: /^L2 table for guest offset 0x0 0x10000000000 .* lies beyond the end of the file/,
  },
  {
    name: 'L2 entry with reserved bits',
    base: 'v3',
    mutate: (b, l) => orU64(l.firstL2, 0x100n)(b),
    action: 'read-all',
    expected: /^L2 entry of guest offset 0x0 0x[0-9a-f]+ has reserved bits set/,
  },
  {
    name: 'data cluster offset not aligned',
    base: 'v3',
    mutate: (b, l) => orU64(l.firstL2, 0x200n)(b),
    action: 'read-all',
    expected: /^data cluster offset \(guest offset 0x0\) 0x[0-9a-f]+ is not cluster aligned/,
  },
  {
    name: 'zero flag in a v2 image',
    base: 'v2',
    mutate: (b, l) => orU64(l.firstL2, 1n)(b),
    action: 'read-all',
    expected: /^L2 entry of guest offset 0x0 0x[0-9a-f]+ has the zero flag, which v2 images do not have/,
  },
  {
    name: 'compressed cluster beyond the end of the file',
    base: 'compressed',
    mutate: (b, l) => u64(l.firstL2, (1n << 62n) | (1n << 45n))(b),
    action: 'read-all',
    expected: /^compressed cluster offset \(guest offset 0x0\) 0x200000000000 lies beyond the end of the file/,
  },
  {
    name: 'compressed cluster holding garbage',
    base: 'compressed',
    mutate: (b, l) => b.fill(0xff, firstCompressedCluster(b, l), firstCompressedCluster(b, l) + 64),
    action: 'read-all',
    expected: /^compressed cluster at 0x[0-9a-f]+ does not decompress/,
  },
  {
    name: 'zstd compressed cluster holding a frame of more than a cluster',
    base: 'zstd',
    mutate: (b, l) => {
      compress(Buffer.alloc(1 << 20)).copy(b, firstCompressedCluster(b, l)); // 1 MiB of zeros in 50 bytes, where one cluster's frame was
    },
    action: 'read-all',
    expected: /^compressed cluster at 0x[0-9a-f]+ decompresses to more than one cluster \(65536 bytes\)/,
  },
  {
    name: 'zstd compressed cluster holding garbage',
    base: 'zstd',
    mutate: (b, l) => b.fill(0xff, firstCompressedCluster(b, l), firstCompressedCluster(b, l) + 64),
    action: 'read-all',
    expected: /^compressed cluster at 0x[0-9a-f]+ does not decompress/,
  },
  // refcounts
  {
    name: 'refcount table entry not aligned',
    base: 'v3',
    mutate: (b, l) => orU64(l.refcountTable, 0x10n)(b),
    action: 'open',
    expected: /^refcount table entry 0 0x[0-9a-f]+ is not cluster aligned/,
  },
  {
    name: 'refcount block beyond the end of the file',
    base: 'v3',
    mutate: (b, l) => u64(l.refcountTable, 1n << 40n)(b),
    action: 'check',
    expected: /^refcount block 0 0x10000000000 .* lies beyond the end of the file/,
  },
];
