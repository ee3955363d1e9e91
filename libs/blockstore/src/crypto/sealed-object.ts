import { randomFillSync } from 'node:crypto';
import { CorruptObjectError } from '../blockstore-errors';
import { aead, AEAD_TAG_BYTES } from './aead';

/**
 * An object sealed with AES-256-GCM (format version 2 of island's block and manifest objects):
 *
 *   0 magic (4)   4 version (2)   5 codec   6 reserved (0, 2 bytes)   8 plain length (u32 BE)   12 nonce (12)
 *   24 ciphertext of the payload (compressed or not, as `codec` says)   end − 16: GCM tag (16)
 *
 * The whole header and the object's name are associated data: a flipped bit anywhere, a cut tail, another
 * name's object put in its place or another project's key all fail authentication, before any byte is used.
 * Nonces are random (96 bits): a project key seals far fewer than the 2^32 objects that bound allows.
 */
export const SEALED_VERSION = 2;
export const SEALED_HEADER_BYTES = 24;
const TAG_BYTES = AEAD_TAG_BYTES;

export interface SealedContent {
  codec: number;
  /** The format version byte (default SEALED_VERSION; segments of a streamed manifest have their own). */
  version?: number;
  /** The length the header records (e.g. the block's uncompressed length). */
  plainLength: number;
  payload: Buffer;
}

/** Memory for an object of `length` bytes (e.g. BlockBuffers' `take`), which the caller gives back later. */
export type ObjectMemory = (length: number) => Buffer;

/**
 * The sealed object in one Buffer: header, ciphertext and tag side by side, so that a PUT sends it in one write. The
 * cipher writes into it (aead.ts); with `memory`, it is memory the caller lends and reuses once given back.
 */
export function sealObject(key: Buffer, magic: Buffer, objectName: string, content: SealedContent, memory: ObjectMemory = Buffer.allocUnsafe): Buffer {
  const object = memory(SEALED_HEADER_BYTES + content.payload.length + TAG_BYTES);
  const header = object.subarray(0, SEALED_HEADER_BYTES);
  magic.copy(header, 0, 0, 4);
  header[4] = content.version ?? SEALED_VERSION;
  header[5] = content.codec;
  header.writeUInt16BE(0, 6);
  header.writeUInt32BE(content.plainLength, 8);
  randomFillSync(header, 12, 12);
  aead.seal(key, header.subarray(12, 24), associatedData(header, objectName), content.payload, object.subarray(SEALED_HEADER_BYTES));
  return object;
}

/** Opens a sealed object; throws CorruptObjectError (permanent) naming the object unless it authenticates. With `memory`,
 * the payload is opened into memory the caller lends (and gives back later). */
export function openSealedObject(
  key: Buffer,
  magic: Buffer,
  objectName: string,
  object: Buffer,
  version = SEALED_VERSION,
  memory: ObjectMemory = Buffer.allocUnsafe,
): SealedContent {
  if (object.length < SEALED_HEADER_BYTES + TAG_BYTES) throw new CorruptObjectError(objectName, `${object.length} bytes: too short for a sealed object`);
  if (!object.subarray(0, 4).equals(magic)) throw new CorruptObjectError(objectName, 'not an island object of this kind (bad magic)');
  if (object[4] !== version) throw new CorruptObjectError(objectName, `format version ${object[4]} is not ${version}`);
  const header = object.subarray(0, SEALED_HEADER_BYTES);
  const payload = memory(object.length - SEALED_HEADER_BYTES - TAG_BYTES);
  if (!aead.open(key, header.subarray(12, 24), associatedData(header, objectName), object.subarray(SEALED_HEADER_BYTES), payload)) {
    throw new CorruptObjectError(objectName, 'does not authenticate: altered, cut short, stored under another name, or sealed with another key');
  }
  return { codec: header[5], plainLength: header.readUInt32BE(8), payload };
}

function associatedData(header: Buffer, objectName: string): Buffer {
  return Buffer.concat([header, Buffer.from(`\0${objectName}`)]);
}
