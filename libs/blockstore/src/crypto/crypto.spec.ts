import { createHash, randomBytes } from 'node:crypto';
import { BlockCodec, BlockDecoder, BlockEncoder } from '../block-codec';
import { BlockBuffers } from '../block-buffers';
import { CorruptObjectError } from '../blockstore-errors';
import { KeyUnwrapError, kekId, rewrapProjectKey, unwrapProjectKey, wrapProjectKey } from './key-wrapping';
import { ProjectKeys } from './project-keys';
import { openSealedObject, SEALED_HEADER_BYTES, sealObject } from './sealed-object';

const MAGIC = Buffer.from('ISLB');

describe('project keys', () => {
  it('names equal content alike inside a project and differently in another, never by its plain SHA-256', () => {
    const block = Buffer.from('the same 1 MiB block, in short');
    const a = new ProjectKeys('project-a', ProjectKeys.newMasterKey());
    const b = new ProjectKeys('project-b', ProjectKeys.newMasterKey());
    expect(a.blockName(block).equals(a.blockName(Buffer.from(block)))).toBe(true);
    expect(a.blockName(block).equals(b.blockName(block))).toBe(false);
    expect(a.blockName(block).equals(createHash('sha256').update(block).digest())).toBe(false);
    expect(a.encryption.equals(a.naming)).toBe(false);
  });

  it('derives other keys for another project from the same master key', () => {
    const master = ProjectKeys.newMasterKey();
    expect(new ProjectKeys('p1', master).encryption.equals(new ProjectKeys('p2', master).encryption)).toBe(false);
    expect(() => new ProjectKeys('p', randomBytes(16))).toThrow(/16 bytes, not 32/);
  });
});

describe('wrapped project keys', () => {
  const kek = randomBytes(32);
  const master = ProjectKeys.newMasterKey();

  it('opens with its KEK only, for its project only', () => {
    const wrapped = wrapProjectKey(kek, 'p1', master);
    expect(JSON.stringify(wrapped)).not.toContain(master.toString('base64'));
    expect(unwrapProjectKey(kek, 'p1', wrapped).equals(master)).toBe(true);
    expect(() => unwrapProjectKey(randomBytes(32), 'p1', wrapped)).toThrow(KeyUnwrapError);
    expect(() => unwrapProjectKey(randomBytes(32), 'p1', wrapped)).toThrow(/sealed by KEK [0-9a-f]{16}, not by the KEK given/);
    // copied into another project's place, renamed or not, it does not open there
    expect(() => unwrapProjectKey(kek, 'p2', wrapped)).toThrow(/key of project p2 does not open with KEK/);
    expect(() => unwrapProjectKey(kek, 'p2', { ...wrapped, projectId: 'p2' })).toThrow(/does not open with KEK/);
    const flipped = Buffer.from(wrapped.sealed, 'base64');
    flipped[0] ^= 1;
    expect(() => unwrapProjectKey(kek, 'p1', { ...wrapped, sealed: flipped.toString('base64') })).toThrow(/altered or belongs elsewhere/);
  });

  it('is re-wrapped by a rotation to a new KEK, keeping the same master key', () => {
    const next = randomBytes(32);
    const rotated = rewrapProjectKey(kek, next, 'p1', wrapProjectKey(kek, 'p1', master));
    expect(rotated.kekId).toBe(kekId(next));
    expect(unwrapProjectKey(next, 'p1', rotated).equals(master)).toBe(true);
    expect(() => unwrapProjectKey(kek, 'p1', rotated)).toThrow(KeyUnwrapError);
  });
});

describe('sealed objects', () => {
  const keys = new ProjectKeys('p1', ProjectKeys.newMasterKey());
  const payload = randomBytes(4096);
  const name = `blocks/${keys.blockName(payload).toString('hex')}`;
  const sealed = sealObject(keys.encryption, MAGIC, name, { codec: 0, plainLength: payload.length, payload });

  it('round-trips, and holds no plaintext', () => {
    expect(openSealedObject(keys.encryption, MAGIC, name, sealed)).toEqual({ codec: 0, plainLength: 4096, payload });
    expect(sealed.includes(payload.subarray(0, 32))).toBe(false);
    expect(sealed.length).toBe(SEALED_HEADER_BYTES + payload.length + 16);
  });

  it('refuses a flipped bit anywhere, a cut tail, another name and another key, naming the object', () => {
    for (const at of [5, 9, 13, SEALED_HEADER_BYTES + 7, sealed.length - 1]) {
      const flipped = Buffer.from(sealed);
      flipped[at] ^= 0x10;
      expect(() => openSealedObject(keys.encryption, MAGIC, name, flipped)).toThrow(CorruptObjectError);
    }
    expect(() => openSealedObject(keys.encryption, MAGIC, name, sealed.subarray(0, sealed.length - 3))).toThrow(/does not authenticate/);
    expect(() => openSealedObject(keys.encryption, MAGIC, 'blocks/another', sealed)).toThrow(/blocks\/another: does not authenticate/);
    const other = new ProjectKeys('p2', ProjectKeys.newMasterKey());
    expect(() => openSealedObject(other.encryption, MAGIC, name, sealed)).toThrow(/sealed with another key/);
    expect(() => openSealedObject(keys.encryption, MAGIC, name, sealed.subarray(0, 20))).toThrow(/too short/);
  });
});

describe('sealed block objects', () => {
  const keys = new ProjectKeys('p1', ProjectKeys.newMasterKey());
  const objectName = (name: Buffer) => `blocks/${name.toString('hex')}`;
  const compressible = Buffer.alloc(256 * 1024, 'island marker text ');
  const random = randomBytes(256 * 1024);

  it('decode to the written bytes, compressed or not, and still read plain (format 1) objects', () => {
    const encoder = new BlockEncoder();
    const decoder = new BlockDecoder();
    for (const raw of [compressible, random]) {
      const sealed = encoder.encodeSealed(raw, keys, objectName);
      expect(sealed.hash.equals(keys.blockName(raw))).toBe(true);
      expect(sealed.object.includes(Buffer.from('island marker text'))).toBe(false);
      expect(decoder.decode(sealed.object, sealed.hash, objectName(sealed.hash), keys).equals(raw)).toBe(true);
    }
    expect(encoder.encodeSealed(compressible, keys, objectName).codec).toBe(BlockCodec.Zstd);
    const plain = encoder.encode(random);
    expect(decoder.decode(plain.object, plain.hash, objectName(plain.hash)).equals(random)).toBe(true);
  });

  it('seal into and open into memory lent from a pool, which goes back to it for the next block', () => {
    const encoder = new BlockEncoder();
    const decoder = new BlockDecoder();
    const buffers = new BlockBuffers();
    for (const raw of [compressible, random]) {
      const sealed = encoder.encodeSealed(raw, keys, objectName, undefined, buffers);
      const plainSealed = encoder.encodeSealed(raw, keys, objectName);
      expect(sealed.object.length).toBe(plainSealed.object.length);
      const opened = decoder.decode(sealed.object, sealed.hash, objectName(sealed.hash), keys, buffers);
      expect(opened.equals(raw)).toBe(true);
      const held = buffers.heldBytes;
      sealed.release();
      buffers.giveBack(opened);
      expect(buffers.heldBytes).toBeGreaterThan(held);
      // the next block of the same size is opened into memory given back, not new memory
      const again = decoder.decode(sealed.object, sealed.hash, objectName(sealed.hash), keys, buffers);
      expect(again.buffer).toBe(opened.buffer);
      expect(again.equals(raw)).toBe(true);
    }
  });

  it('refuse another project, a missing key and a swapped name with the object named, writing nothing', () => {
    const encoder = new BlockEncoder();
    const decoder = new BlockDecoder();
    const sealed = encoder.encodeSealed(random, keys, objectName);
    const name = objectName(sealed.hash);
    const other = new ProjectKeys('p2', ProjectKeys.newMasterKey());
    expect(() => decoder.decode(sealed.object, sealed.hash, name, other)).toThrow(CorruptObjectError);
    expect(() => decoder.decode(sealed.object, sealed.hash, name)).toThrow(`${name}: is sealed (format 2) and no project key was given to open it`);
    const second = encoder.encodeSealed(compressible, keys, objectName);
    expect(() => decoder.decode(second.object, sealed.hash, name, keys)).toThrow(/does not authenticate/);
  });
});
