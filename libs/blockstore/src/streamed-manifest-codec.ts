import { CorruptObjectError } from './blockstore-errors';
import { ByteReader } from './byte-reader';
import { ProjectKeys } from './crypto/project-keys';
import { openSealedObject, SEALED_HEADER_BYTES, sealObject } from './crypto/sealed-object';
import { ManifestEntry, ManifestHeader } from './manifest';
import { checkGeometry, checkMetadataLength, parseMetadata } from './manifest-codec';

/**
 * Streamed manifest, format 3 — what island writes now. A manifest grows with its volume (32 bytes a block: 128 MiB
 * for 4 TiB of 1 MiB blocks), so it is written and read as a stream and never held whole.
 *
 * Plain stream (integers big-endian):
 *    0 "ISLM"  4 version u16 (3)  6 flags u16 (0)  8 block size u32  12 volume size u64  20 entry count u64
 *   28 metadata length u32  32 metadata (UTF-8 JSON)
 *   then records in increasing block order: first block u64, count u32 (1 to 4096), count × 32-byte block names
 * Object: that stream cut into segments of at most 1 MiB, each a sealed object (crypto/sealed-object.ts, version byte
 * 3) under the project's key, with the manifest's object name, the segment's number and, on the last segment only,
 * "last" bound in: every segment authenticates on its own before a byte of it is used, and a segment moved,
 * dropped, cut short or added after the last one fails.
 */
export const STREAMED_MANIFEST_VERSION = 3;
export const MAX_RECORD_ENTRIES = 4096;
const SEGMENT_BYTES = 1024 * 1024;
const MAGIC = Buffer.from('ISLM');
const FIXED = 32;
const RECORD_HEADER = 12;
const TAG_BYTES = 16;

/** Whether an object's first bytes are a streamed manifest's. */
export function isStreamedManifest(head: Buffer): boolean {
  return head.length >= 5 && head.subarray(0, 4).equals(MAGIC) && head[4] === STREAMED_MANIFEST_VERSION;
}

/** The sealed segments of a manifest, produced as its entries arrive (in increasing block order). */
export async function* sealedManifestSegments(
  header: ManifestHeader,
  batches: AsyncIterable<ManifestEntry[]>,
  keys: ProjectKeys,
  objectName: string,
): AsyncGenerator<Buffer> {
  let number = 0;
  const seal = (payload: Buffer, last: boolean) =>
    sealObject(keys.encryption, MAGIC, segmentName(objectName, number++, last), {
      codec: 0,
      version: STREAMED_MANIFEST_VERSION,
      plainLength: payload.length,
      payload,
    });
  const plain = new SegmentFiller();
  let full: Buffer | undefined; // a whole segment, sealed once it is known not to be the last
  for await (const filled of plainManifestStream(header, batches, plain)) {
    if (full) yield seal(full, false);
    full = filled;
  }
  const rest = plain.rest();
  if (full && rest.length === 0) {
    yield seal(full, true);
    return;
  }
  if (full) yield seal(full, false);
  yield seal(rest, true);
}

/** Packs the plain stream into segment-sized buffers as it is written, with no buffer per record. */
class SegmentFiller {
  private current = Buffer.allocUnsafe(SEGMENT_BYTES);
  private at = 0;

  /** Copies `bytes` in; returns the segments it filled. */
  write(bytes: Buffer): Buffer[] {
    const filled: Buffer[] = [];
    let from = 0;
    while (from < bytes.length) {
      const n = Math.min(bytes.length - from, SEGMENT_BYTES - this.at);
      bytes.copy(this.current, this.at, from, from + n);
      this.at += n;
      from += n;
      if (this.at === SEGMENT_BYTES) {
        filled.push(this.current);
        this.current = Buffer.allocUnsafe(SEGMENT_BYTES);
        this.at = 0;
      }
    }
    return filled;
  }

  rest(): Buffer {
    return this.current.subarray(0, this.at);
  }
}

/**
 * Writes the plain stream into `plain` — header, then one record per run of at most MAX_RECORD_ENTRIES consecutive
 * blocks — yielding each segment it fills.
 */
async function* plainManifestStream(header: ManifestHeader, batches: AsyncIterable<ManifestEntry[]>, plain: SegmentFiller): AsyncGenerator<Buffer> {
  yield* plain.write(encodeHeader(header));
  const blockCount = Math.ceil(header.volumeSize / header.blockSize);
  const recordHeader = Buffer.alloc(RECORD_HEADER);
  const names = Buffer.allocUnsafe(MAX_RECORD_ENTRIES * 32);
  let start = -1;
  let count = 0;
  let last = -1;
  let total = 0;
  const record = () => {
    recordHeader.writeBigUInt64BE(BigInt(start), 0);
    recordHeader.writeUInt32BE(count, 8);
    const filled = [...plain.write(recordHeader), ...plain.write(names.subarray(0, count * 32))];
    count = 0;
    return filled;
  };
  for await (const batch of batches) {
    for (const { index, hash } of batch) {
      if (!Number.isSafeInteger(index) || index <= last) throw new RangeError(`manifest entries must come in increasing block order (${index} after ${last})`);
      if (index >= blockCount) throw new RangeError(`block ${index} is beyond the volume's ${blockCount} blocks`);
      if (hash.length !== 32) throw new RangeError(`block ${index}: a name is 32 bytes, got ${hash.length}`);
      if (count > 0 && (index !== last + 1 || count === MAX_RECORD_ENTRIES)) yield* record();
      if (count === 0) start = index;
      hash.copy(names, count * 32);
      count++;
      last = index;
      total++;
    }
  }
  if (count > 0) yield* record();
  if (total !== header.entryCount) throw new RangeError(`the manifest's header counts ${header.entryCount} entries, ${total} came`);
}

function encodeHeader(header: ManifestHeader): Buffer {
  const meta = Buffer.from(JSON.stringify(header.metadata), 'utf8');
  const out = Buffer.alloc(FIXED + meta.length);
  MAGIC.copy(out, 0);
  out.writeUInt16BE(STREAMED_MANIFEST_VERSION, 4);
  out.writeUInt16BE(0, 6);
  out.writeUInt32BE(header.blockSize, 8);
  out.writeBigUInt64BE(BigInt(header.volumeSize), 12);
  out.writeBigUInt64BE(BigInt(header.entryCount), 20);
  out.writeUInt32BE(meta.length, 28);
  meta.copy(out, FIXED);
  return out;
}

function segmentName(objectName: string, number: number, last: boolean): string {
  return `${objectName}\0segment ${number}${last ? '\0last' : ''}`;
}

/**
 * Opens a streamed manifest as it arrives: its header (read from the first segment), then its entries, each segment
 * authenticated before any of its bytes is parsed. Every inconsistency is a CorruptObjectError naming `label`.
 */
export async function openStreamedManifest(
  object: ByteReader,
  keys: ProjectKeys,
  objectName: string,
  label: string,
): Promise<{ header: ManifestHeader; batches: AsyncGenerator<ManifestEntry[]> }> {
  const plain = new ByteReader(openedSegments(object, keys, objectName, label));
  const fail = (problem: string): never => {
    throw new CorruptObjectError(label, problem);
  };
  const fixed = (await plain.read(FIXED)) ?? fail('the manifest ends inside its header');
  if (!fixed.subarray(0, 4).equals(MAGIC) || fixed.readUInt16BE(4) !== STREAMED_MANIFEST_VERSION) fail('not a streamed island manifest');
  const blockSize = fixed.readUInt32BE(8);
  const volumeSize = checkGeometry(blockSize, fixed.readBigUInt64BE(12), fail);
  const entryCount = Number(fixed.readBigUInt64BE(20));
  const blockCount = Math.ceil(volumeSize / blockSize);
  if (entryCount > blockCount) fail(`the header counts ${entryCount} entries in a volume of ${blockCount} blocks`);
  const metaLength = fixed.readUInt32BE(28);
  checkMetadataLength(metaLength, fail);
  const metadata = parseMetadata((await plain.read(metaLength)) ?? fail('the manifest ends inside its metadata'), fail);
  const header: ManifestHeader = { blockSize, volumeSize, metadata, entryCount };
  return { header, batches: streamedEntries(plain, header, blockCount, fail) };
}

async function* streamedEntries(
  plain: ByteReader,
  header: ManifestHeader,
  blockCount: number,
  fail: (problem: string) => never,
): AsyncGenerator<ManifestEntry[]> {
  let next = 0;
  let total = 0;
  let batch: ManifestEntry[] = [];
  while (total < header.entryCount) {
    const head = (await plain.read(RECORD_HEADER)) ?? fail(`the manifest ends after ${total} of its ${header.entryCount} entries`);
    const start = Number(head.readBigUInt64BE(0));
    const count = head.readUInt32BE(8);
    if (count === 0 || count > MAX_RECORD_ENTRIES) fail(`a record at block ${start} holds ${count} entries (1 to ${MAX_RECORD_ENTRIES})`);
    if (start < next) fail(`a record starts at block ${start}, overlapping or out of order`);
    if (start + count > blockCount) fail(`a record (${start}+${count}) ends beyond the volume's ${blockCount} blocks`);
    if (total + count > header.entryCount) fail(`the records hold more than the ${header.entryCount} entries the header counts`);
    const names = (await plain.read(count * 32)) ?? fail(`the manifest ends inside the record at block ${start}`);
    for (let i = 0; i < count; i++) batch.push({ index: start + i, hash: names.subarray(i * 32, i * 32 + 32) });
    next = start + count;
    total += count;
    if (batch.length >= MAX_RECORD_ENTRIES) {
      yield batch;
      batch = [];
    }
  }
  if (!(await plain.atEnd())) fail(`bytes follow the manifest's ${header.entryCount} entries`);
  if (batch.length > 0) yield batch;
}

async function* openedSegments(object: ByteReader, keys: ProjectKeys, objectName: string, label: string): AsyncGenerator<Buffer> {
  for (let number = 0; ; number++) {
    const fail = (problem: string): never => {
      throw new CorruptObjectError(label, `segment ${number}: ${problem}`);
    };
    const head = (await object.read(SEALED_HEADER_BYTES)) ?? fail(number === 0 ? 'the object is empty' : 'the object ends before its last segment');
    const plainLength = head.readUInt32BE(8);
    if (plainLength > SEGMENT_BYTES) fail(`says ${plainLength} bytes, more than a segment holds (${SEGMENT_BYTES})`);
    const body = (await object.read(plainLength + TAG_BYTES)) ?? fail('the object is cut short');
    const last = await object.atEnd();
    try {
      yield openSealedObject(keys.encryption, MAGIC, segmentName(objectName, number, last), Buffer.concat([head, body]), STREAMED_MANIFEST_VERSION).payload;
    } catch (error) {
      if (error instanceof CorruptObjectError) fail(error.problem);
      throw error;
    }
    if (last) return;
  }
}
