import { Qcow2Header } from './header';
import { ImageFile } from './image-file';
import { InvalidImageError } from './qcow2-errors';
import { MAX_L1_BYTES, MAX_OFFSET, MAX_SNAPSHOT_EXTRA, MAX_SNAPSHOT_TABLE_BYTES } from './limits';
import { Refcounts } from './refcounts';

/** An internal snapshot as the library's callers see it. */
export interface SnapshotInfo {
  id: string;
  name: string;
  virtualSize: number;
  /** ISO 8601 */
  date: string;
}

/** One internal snapshot as stored in the snapshot table. */
export interface SnapshotEntry {
  l1TableOffset: number;
  l1Size: number;
  id: string;
  name: string;
  dateSec: number;
  dateNsec: number;
  vmClockNsec: bigint;
  vmStateSize: number;
  /** Guest size when the snapshot was taken (extra data; v3 always has it). */
  diskSize?: number;
  /** Extra data beyond what is understood here, preserved as is. */
  extraRest: Buffer;
  /** Raw first 16 bytes of extra data we understand: vm_state_size_large and disk_size. */
  vmStateSizeLarge: bigint;
}

const FIXED = 40;

/** Parses `count` snapshot entries; every length and offset is checked before it is used. */
export function parseSnapshotTable(raw: Buffer, count: number, clusterSize: number, version: 2 | 3): SnapshotEntry[] {
  const entries: SnapshotEntry[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    const what = `snapshot ${i}`;
    if (at + FIXED > raw.length) throw new InvalidImageError(`${what} header`, at, 'lies beyond the snapshot table');
    const l1Offset = raw.readBigUInt64BE(at);
    const l1Size = raw.readUInt32BE(at + 8);
    const idSize = raw.readUInt16BE(at + 12);
    const nameSize = raw.readUInt16BE(at + 14);
    const extraSize = raw.readUInt32BE(at + 36);
    if (l1Offset > BigInt(MAX_OFFSET)) throw new InvalidImageError(`${what} L1 table offset`, l1Offset, 'is too large');
    const l1TableOffset = Number(l1Offset);
    if (l1TableOffset % clusterSize !== 0) throw new InvalidImageError(`${what} L1 table offset`, l1TableOffset, 'is not cluster aligned');
    if (l1Size * 8 > MAX_L1_BYTES) throw new InvalidImageError(`${what} l1_size`, l1Size, `needs more than ${MAX_L1_BYTES} bytes`);
    if (extraSize > MAX_SNAPSHOT_EXTRA) throw new InvalidImageError(`${what} extra_data_size`, extraSize, `is larger than ${MAX_SNAPSHOT_EXTRA}`);
    if (version === 3 && extraSize < 16) throw new InvalidImageError(`${what} extra_data_size`, extraSize, 'is smaller than the 16 bytes v3 requires');
    const end = at + FIXED + extraSize + idSize + nameSize;
    if (end > raw.length) throw new InvalidImageError(`${what} entry`, at, 'runs past the end of the snapshot table');
    const extra = raw.subarray(at + FIXED, at + FIXED + extraSize);
    const diskSizeBig = extraSize >= 16 ? extra.readBigUInt64BE(8) : undefined;
    if (diskSizeBig !== undefined && diskSizeBig > BigInt(MAX_OFFSET)) throw new InvalidImageError(`${what} disk_size`, diskSizeBig, 'is too large');
    entries.push({
      l1TableOffset,
      l1Size,
      dateSec: raw.readUInt32BE(at + 16),
      dateNsec: raw.readUInt32BE(at + 20),
      vmClockNsec: raw.readBigUInt64BE(at + 24),
      vmStateSize: raw.readUInt32BE(at + 32),
      vmStateSizeLarge: extraSize >= 8 ? extra.readBigUInt64BE(0) : 0n,
      diskSize: diskSizeBig === undefined ? undefined : Number(diskSizeBig),
      extraRest: Buffer.from(extra.subarray(Math.min(16, extraSize))),
      id: raw.toString('utf8', at + FIXED + extraSize, at + FIXED + extraSize + idSize),
      name: raw.toString('utf8', at + FIXED + extraSize + idSize, end),
    });
    at = Math.ceil(end / 8) * 8;
  }
  return entries;
}

/** The byte size of the table for these entries, to read before parsing (bounded by the limit). */
export function snapshotTableLimit(count: number): number {
  return Math.min(MAX_SNAPSHOT_TABLE_BYTES, count * (FIXED + MAX_SNAPSHOT_EXTRA + 2 * 65535 + 8));
}

export function serializeSnapshotTable(entries: SnapshotEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const extra = Buffer.alloc(16 + e.extraRest.length);
    extra.writeBigUInt64BE(e.vmStateSizeLarge, 0);
    extra.writeBigUInt64BE(BigInt(e.diskSize ?? 0), 8);
    e.extraRest.copy(extra, 16);
    const id = Buffer.from(e.id, 'utf8');
    const name = Buffer.from(e.name, 'utf8');
    const fixed = Buffer.alloc(FIXED);
    fixed.writeBigUInt64BE(BigInt(e.l1TableOffset), 0);
    fixed.writeUInt32BE(e.l1Size, 8);
    fixed.writeUInt16BE(id.length, 12);
    fixed.writeUInt16BE(name.length, 14);
    fixed.writeUInt32BE(e.dateSec, 16);
    fixed.writeUInt32BE(e.dateNsec, 20);
    fixed.writeBigUInt64BE(e.vmClockNsec, 24);
    fixed.writeUInt32BE(e.vmStateSize, 32);
    fixed.writeUInt32BE(extra.length, 36);
    const length = FIXED + extra.length + id.length + name.length;
    parts.push(fixed, extra, id, name, Buffer.alloc(Math.ceil(length / 8) * 8 - length));
  }
  return Buffer.concat(parts);
}

/** Reads and parses the snapshot table the header names. */
export async function readSnapshotTable(file: ImageFile, header: Qcow2Header): Promise<SnapshotEntry[]> {
  if (header.nbSnapshots === 0) return [];
  const length = Math.min(snapshotTableLimit(header.nbSnapshots), file.size - header.snapshotsOffset);
  if (length <= 0) throw new InvalidImageError('snapshot table offset', header.snapshotsOffset, 'lies beyond the end of the file');
  const raw = await file.readExact(header.snapshotsOffset, length, 'snapshot table');
  return parseSnapshotTable(raw, header.nbSnapshots, 2 ** header.clusterBits, header.version);
}

/** Writes a table of `entries` into newly allocated clusters; returns its offset (0 for no entries). */
export async function storeSnapshotTable(file: ImageFile, refcounts: Refcounts, entries: SnapshotEntry[]): Promise<number> {
  const raw = serializeSnapshotTable(entries);
  const clusters = Math.ceil(raw.length / refcounts.clusterSize);
  const offset = clusters ? await refcounts.allocate(clusters) : 0;
  if (clusters) {
    const padded = Buffer.alloc(clusters * refcounts.clusterSize);
    raw.copy(padded);
    await file.write(offset, padded);
  }
  return offset;
}

/** How many clusters the table of `entries` occupies. */
export function snapshotTableClusters(entries: SnapshotEntry[], clusterSize: number): number {
  return Math.ceil(serializeSnapshotTable(entries).length / clusterSize);
}

/** A snapshot by name; failing that, by id. */
export function findSnapshotEntry(entries: readonly SnapshotEntry[], nameOrId: string): SnapshotEntry | undefined {
  return entries.find((s) => s.name === nameOrId) ?? entries.find((s) => s.id === nameOrId);
}

/** `imageSize` stands in for a snapshot that does not record its own size (v2). */
export function snapshotInfo(entry: SnapshotEntry, imageSize: number): SnapshotInfo {
  return {
    id: entry.id,
    name: entry.name,
    virtualSize: entry.diskSize ?? imageSize,
    date: new Date(entry.dateSec * 1000 + Math.floor(entry.dateNsec / 1e6)).toISOString(),
  };
}
