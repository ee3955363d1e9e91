import { createHash } from 'node:crypto';
import { BLOCK_SIZES } from '@island/config';
import { CCtx, CParameter, compressBound, DCtx } from 'zstd-napi/binding';
import { CorruptObjectError } from './blockstore-errors';
import { BlockBuffers } from './block-buffers';
import { ProjectKeys } from './crypto/project-keys';
import { openSealedObject, SEALED_VERSION, sealObject } from './crypto/sealed-object';

/**
 * A block object in Swift, format 1: a 12-byte header, then the block's bytes, zstd-compressed when that saves
 * space. Its name is the SHA-256 of the uncompressed bytes, so a name always means the same content.
 *
 *   0  "ISLB"   4  version (1)   5  codec (0 raw, 1 zstd)   6  reserved (0, 2 bytes)   8  raw length (u32 BE)
 *
 * Format 2 is the same payload sealed under the block's project's keys (crypto/sealed-object.ts), named by the
 * project's keyed hash of the content; both are read.
 */
const MAGIC = Buffer.from('ISLB');
const VERSION = 1;
export const BLOCK_HEADER_BYTES = 12;
export enum BlockCodec {
  Raw = 0,
  Zstd = 1,
}
/** Keep a block raw unless compression saves at least 1/32 of it: decompressing costs restore time. */
const MIN_SAVING_SHIFT = 5;
/** zstd's own default: a trade of a host's CPU for Swift's bytes (docs/performance.md, "Compressible data, per GiB"). */
export const BLOCK_ZSTD_LEVEL = 3;
const PROBE_BYTES = 64 * 1024;
/** The largest block island writes (ISLAND_BLOCK_SIZE): a header saying more is damage, never an allocation. */
export const MAX_BLOCK_BYTES = Math.max(...BLOCK_SIZES);

export interface EncodedBlock {
  hash: Buffer;
  /** The object as Swift stores it. */
  readonly object: Buffer;
  codec: BlockCodec;
  /** Gives the object's memory back to its pool (`encodeSealed` with `buffers`), once nothing sends it any more. */
  release(): void;
}

function encodedBlock(hash: Buffer, codec: BlockCodec, object: Buffer, lent?: BlockBuffers): EncodedBlock {
  return { hash, codec, object, release: () => lent?.giveBack(object) };
}

export function hashBlock(raw: Buffer): Buffer {
  return createHash('sha256').update(raw).digest();
}

/**
 * Encodes blocks; keeps one zstd context and the memory it compresses into (not thread-safe: one per concurrent user).
 * Compressed bytes stay in that memory only until the block is framed or sealed: no fresh output per block.
 */
export class BlockEncoder {
  private readonly zstd = new CCtx();
  private scratch = Buffer.alloc(0);

  constructor() {
    this.zstd.setParameter(CParameter.compressionLevel, BLOCK_ZSTD_LEVEL);
  }

  encode(raw: Buffer, hash: Buffer = hashBlock(raw)): EncodedBlock {
    const { codec, payload } = this.pack(raw);
    return this.frame(payload, hash, codec, raw.length);
  }

  /**
   * Encodes a block sealed under its project's keys (format 2): named by the project's keyed hash of its content
   * (`name`, when the caller has it already), compressed as `encode` would, then encrypted with its object name
   * (`objectName(name)`) bound in. With `buffers`, the object is in memory lent from them: `release()` it once sent.
   */
  encodeSealed(raw: Buffer, keys: ProjectKeys, objectName: (name: Buffer) => string, name: Buffer = keys.blockName(raw), buffers?: BlockBuffers): EncodedBlock {
    const { codec, payload } = this.pack(raw);
    const object = sealObject(
      keys.encryption,
      MAGIC,
      objectName(name),
      { codec, plainLength: raw.length, payload },
      buffers && ((length) => buffers.take(length)),
    );
    return encodedBlock(name, codec, object, buffers);
  }

  /** The block compressed when that saves enough, else as it is. */
  private pack(raw: Buffer): { codec: BlockCodec; payload: Buffer } {
    // a probe of the first 64 KiB spares compressing whole blocks of incompressible data (most of the cost)
    if (raw.length > 2 * PROBE_BYTES && !this.saves(raw.subarray(0, PROBE_BYTES))) return { codec: BlockCodec.Raw, payload: raw };
    const compressed = this.compress(raw);
    return this.saves(raw, compressed) ? { codec: BlockCodec.Zstd, payload: compressed } : { codec: BlockCodec.Raw, payload: raw };
  }

  private saves(raw: Buffer, compressed: Buffer = this.compress(raw)): boolean {
    return compressed.length <= raw.length - (raw.length >> MIN_SAVING_SHIFT);
  }

  /** `raw` compressed, in the encoder's memory: valid until its next compression. */
  private compress(raw: Buffer): Buffer {
    const bound = compressBound(raw.length);
    if (this.scratch.length < bound) this.scratch = Buffer.allocUnsafeSlow(bound);
    return this.scratch.subarray(0, this.zstd.compress2(this.scratch, raw));
  }

  private frame(payload: Buffer, hash: Buffer, codec: BlockCodec, rawLength = payload.length): EncodedBlock {
    const object = Buffer.allocUnsafe(BLOCK_HEADER_BYTES + payload.length);
    writeHeader(object, codec, rawLength);
    payload.copy(object, BLOCK_HEADER_BYTES);
    return encodedBlock(hash, codec, object);
  }
}

function writeHeader(object: Buffer, codec: BlockCodec, rawLength: number): void {
  MAGIC.copy(object, 0);
  object[4] = VERSION;
  object[5] = codec;
  object.writeUInt16BE(0, 6);
  object.writeUInt32BE(rawLength, 8);
}

/**
 * Decodes and verifies a block object: the bytes returned are the content its name stands for — the SHA-256 of
 * a plain object (format 1), the project's keyed name of a sealed one (format 2, opened with the project's keys).
 */
export class BlockDecoder {
  private readonly zstd = new DCtx();

  /**
   * With `buffers`, a sealed block's content is returned in memory lent from them (the caller gives it back): the cipher
   * opens and zstd decompresses straight into it, so no output of their own lives as long as the caller keeps the block.
   */
  decode(object: Buffer, expectedHash: Buffer, name = `block ${expectedHash.toString('hex')}`, keys?: ProjectKeys, buffers?: BlockBuffers): Buffer {
    if (object.length < BLOCK_HEADER_BYTES || !object.subarray(0, 4).equals(MAGIC)) {
      throw new CorruptObjectError(name, 'not an island block object (bad magic)');
    }
    if (object[4] === SEALED_VERSION) {
      if (!keys) throw new CorruptObjectError(name, 'is sealed (format 2) and no project key was given to open it');
      const lend = buffers && ((length: number) => buffers.take(length));
      const opened = openSealedObject(keys.encryption, MAGIC, name, object, SEALED_VERSION, lend);
      const raw = this.unpack(name, opened.codec, opened.payload, opened.plainLength, lend);
      if (buffers && raw !== opened.payload) buffers.giveBack(opened.payload); // decompressed: the lent memory held the compressed payload
      if (!keys.blockName(raw).equals(expectedHash))
        throw new CorruptObjectError(name, `content does not match its name under project ${keys.projectId}'s key`);
      return raw;
    }
    if (object[4] !== VERSION) throw new CorruptObjectError(name, `unsupported block format version ${object[4]}`);
    const raw = this.unpack(name, object[5], object.subarray(BLOCK_HEADER_BYTES), object.readUInt32BE(8));
    if (!hashBlock(raw).equals(expectedHash)) throw new CorruptObjectError(name, 'content does not match its SHA-256 name');
    return raw;
  }

  /** The block's bytes; a compressed one decompressed into `memory` (lent by the caller, or a new Buffer). */
  private unpack(name: string, codec: number, payload: Buffer, rawLength: number, memory: (length: number) => Buffer = Buffer.allocUnsafe): Buffer {
    if (codec !== BlockCodec.Raw && codec !== BlockCodec.Zstd) throw new CorruptObjectError(name, `unknown block codec ${codec}`);
    let raw = payload;
    if (codec === BlockCodec.Zstd) {
      if (rawLength > MAX_BLOCK_BYTES) throw new CorruptObjectError(name, `its header says ${rawLength} bytes, more than a block holds (${MAX_BLOCK_BYTES})`);
      const into = memory(rawLength);
      let written: number;
      try {
        written = this.zstd.decompress(into, payload);
      } catch (e) {
        throw new CorruptObjectError(name, `zstd payload does not decompress into the ${rawLength} bytes its header says (${(e as Error).message})`);
      }
      raw = written === rawLength ? into : into.subarray(0, written); // the very Buffer lent, so that it can go back
    }
    if (raw.length !== rawLength) {
      throw new CorruptObjectError(name, `holds ${raw.length} bytes, its header says ${rawLength}`);
    }
    return raw;
  }
}
