import { createHash } from 'node:crypto';
import { CorruptObjectError } from './blockstore-errors';
import { Manifest, ManifestMetadata, ManifestRun } from './manifest';
import { ProjectKeys } from './crypto/project-keys';
import { openSealedObject, SEALED_VERSION, sealObject } from './crypto/sealed-object';

/**
 * Binary manifest, version 1 (all integers big-endian):
 *   0 "ISLM"  4 version u16  6 flags u16 (0)  8 block size u32  12 volume size u64  20 run count u32
 *  24 entry count u32  28 metadata length u32  32 SHA-256 of the whole object with these 32 bytes zeroed
 *  64 metadata (UTF-8 JSON)  then run count × (start u64, count u32)  then entry count × 32-byte hashes
 *
 * Sealed (what island writes now): that whole encoding as the payload of a sealed object (crypto/sealed-object.ts,
 * byte 4 = 2 where a plain manifest's version u16 has 0), under its project's key with its object name bound in.
 */
const MAGIC = Buffer.from('ISLM');
const VERSION = 1;
const FIXED = 64;
const CHECKSUM_AT = 32;
const RUN_BYTES = 12;
/** Metadata is a handful of ids and names; anything bigger is not a manifest island wrote. */
const MAX_METADATA_BYTES = 64 * 1024;
const MIN_BLOCK = 4096;
const MAX_BLOCK = 64 * 1024 * 1024;

export function encodeManifest(m: Manifest): Buffer {
  const meta = Buffer.from(JSON.stringify(m.metadata), 'utf8');
  const out = Buffer.alloc(FIXED + meta.length + m.runs.length * RUN_BYTES + m.hashes.length);
  MAGIC.copy(out, 0);
  out.writeUInt16BE(VERSION, 4);
  out.writeUInt16BE(0, 6);
  out.writeUInt32BE(m.blockSize, 8);
  out.writeBigUInt64BE(BigInt(m.volumeSize), 12);
  out.writeUInt32BE(m.runs.length, 20);
  out.writeUInt32BE(m.entryCount, 24);
  out.writeUInt32BE(meta.length, 28);
  meta.copy(out, FIXED);
  let at = FIXED + meta.length;
  for (const run of m.runs) {
    out.writeBigUInt64BE(BigInt(run.start), at);
    out.writeUInt32BE(run.count, at + 8);
    at += RUN_BYTES;
  }
  m.hashes.copy(out, at);
  checksum(out).copy(out, CHECKSUM_AT);
  return out;
}

function checksum(object: Buffer): Buffer {
  return createHash('sha256')
    .update(object.subarray(0, CHECKSUM_AT))
    .update(Buffer.alloc(32))
    .update(object.subarray(CHECKSUM_AT + 32))
    .digest();
}

/** Decodes and validates a manifest; any inconsistency is a CorruptObjectError naming what is wrong. */
export function decodeManifest(object: Buffer, name: string): Manifest {
  const fail = (problem: string): never => {
    throw new CorruptObjectError(name, problem);
  };
  if (object.length < FIXED) fail(`manifest is ${object.length} bytes, shorter than its ${FIXED}-byte header`);
  if (!object.subarray(0, 4).equals(MAGIC)) fail('not an island manifest (bad magic)');
  const version = object.readUInt16BE(4);
  if (version !== VERSION) fail(`unsupported manifest version ${version}`);
  const blockSize = object.readUInt32BE(8);
  const volumeSize = checkGeometry(blockSize, object.readBigUInt64BE(12), fail);
  const runCount = object.readUInt32BE(20);
  const entryCount = object.readUInt32BE(24);
  const metaLength = object.readUInt32BE(28);
  checkMetadataLength(metaLength, fail);
  const expected = FIXED + metaLength + runCount * RUN_BYTES + entryCount * 32;
  if (expected !== object.length) fail(`manifest is ${object.length} bytes; its header implies ${expected}`);
  if (!checksum(object).equals(object.subarray(CHECKSUM_AT, CHECKSUM_AT + 32))) fail('manifest checksum mismatch');

  const metadata = parseMetadata(object.subarray(FIXED, FIXED + metaLength), fail);
  const blockCount = Math.ceil(volumeSize / blockSize);
  const runs: ManifestRun[] = [];
  let at = FIXED + metaLength;
  let next = 0;
  let total = 0;
  for (let i = 0; i < runCount; i++, at += RUN_BYTES) {
    const start = Number(object.readBigUInt64BE(at));
    const count = object.readUInt32BE(at + 8);
    if (count === 0) fail(`run ${i} is empty`);
    if (start < next) fail(`run ${i} starts at block ${start}, overlapping or out of order`);
    if (start + count > blockCount) fail(`run ${i} (${start}+${count}) ends beyond the volume's ${blockCount} blocks`);
    runs.push({ start, count });
    next = start + count;
    total += count;
  }
  if (total !== entryCount) fail(`runs cover ${total} blocks but the header counts ${entryCount}`);
  return new Manifest(blockSize, volumeSize, metadata, runs, object.subarray(at));
}

/** Checks a manifest's block and volume sizes (any format); returns the volume size as a number. */
export function checkGeometry(blockSize: number, volumeSize: bigint, fail: (problem: string) => never): number {
  if (blockSize < MIN_BLOCK || blockSize > MAX_BLOCK || (blockSize & (blockSize - 1)) !== 0)
    fail(`block size ${blockSize} is not a power of two in [4 KiB, 64 MiB]`);
  const size = Number(volumeSize);
  if (!Number.isSafeInteger(size) || size <= 0) fail(`volume size ${volumeSize} is out of range`);
  return size;
}

export function checkMetadataLength(length: number, fail: (problem: string) => never): void {
  if (length > MAX_METADATA_BYTES) fail(`metadata length ${length} exceeds ${MAX_METADATA_BYTES}`);
}

export function parseMetadata(bytes: Buffer, fail: (problem: string) => never): ManifestMetadata {
  try {
    return JSON.parse(bytes.toString('utf8')) as ManifestMetadata;
  } catch {
    return fail('metadata is not valid JSON');
  }
}

/** A sealed manifest (format 2) rather than a plain one (version 1). */
export function isSealedManifest(object: Buffer): boolean {
  return object.length >= 5 && object.subarray(0, 4).equals(MAGIC) && object[4] === SEALED_VERSION;
}

/** Seals an encoded manifest under its project's keys, binding its object name. */
export function sealManifest(encoded: Buffer, keys: ProjectKeys, objectName: string): Buffer {
  return sealObject(keys.encryption, MAGIC, objectName, { codec: 0, plainLength: encoded.length, payload: encoded });
}

/** Opens a sealed manifest (CorruptObjectError naming it unless it authenticates); returns its plain encoding. */
export function openManifest(object: Buffer, keys: ProjectKeys, objectName: string): Buffer {
  const opened = openSealedObject(keys.encryption, MAGIC, objectName, object);
  if (opened.payload.length !== opened.plainLength) {
    throw new CorruptObjectError(objectName, `sealed manifest holds ${opened.payload.length} bytes, its header says ${opened.plainLength}`);
  }
  return opened.payload;
}
