/** Limits enforced on every image opened (QEMU's own, block/qcow2.h). */
export const QCOW_MAGIC = 0x514649fb;
export const MIN_CLUSTER_BITS = 9;
export const MAX_CLUSTER_BITS = 21;
export const MAX_L1_BYTES = 32 * 1024 * 1024;
export const MAX_REFTABLE_BYTES = 8 * 1024 * 1024;
export const MAX_REFCOUNT_ORDER = 6;
export const MAX_BACKING_NAME = 1023;
export const MAX_SNAPSHOTS = 65536;
export const MAX_SNAPSHOT_TABLE_BYTES = 64 * 1024 * 1024;
export const MAX_SNAPSHOT_EXTRA = 1024;
/** Offsets beyond this cannot be represented exactly in a JS number; no real file is that large. */
export const MAX_OFFSET = Number.MAX_SAFE_INTEGER;

/** Header-extension magics. */
export const EXT_END = 0x00000000;
export const EXT_BACKING_FORMAT = 0xe2792aca;
export const EXT_FEATURE_NAMES = 0x6803f857;
export const EXT_BITMAPS = 0x23852875;
export const EXT_ENCRYPTION = 0x0537be77;
export const EXT_DATA_FILE = 0x44415441;

/** L1/L2 entry bits. */
export const OFLAG_COPIED = 1n << 63n;
/** OFLAG_COPIED in an entry's first (big-endian) 32-bit word: the bit tables read as two words test and flip. */
export const COPIED_HIGH_WORD_BIT = Number(OFLAG_COPIED >> 32n);
/** OFLAG_COPIED in an entry's first (big-endian) byte: the bit a pass over every entry flips without decoding it. */
export const COPIED_FIRST_BYTE_BIT = Number(OFLAG_COPIED >> 56n);
export const OFLAG_COMPRESSED = 1n << 62n;
export const OFLAG_ZERO = 1n;
export const L1E_OFFSET_MASK = 0x00fffffffffffe00n;
export const L2E_OFFSET_MASK = 0x00fffffffffffe00n;
