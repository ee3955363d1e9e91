import { randomBytes } from 'node:crypto';
import { BlockCodec, BlockDecoder, BlockEncoder, hashBlock, MAX_BLOCK_BYTES } from './block-codec';
import { CorruptObjectError } from './blockstore-errors';
import { ManifestBuilder, ManifestMetadata } from './manifest';
import { decodeManifest, encodeManifest } from './manifest-codec';

const META: ManifestMetadata = {
  volumeId: 'v1',
  snapshotId: 's1',
  projectId: 'p',
  region: 'r',
  seq: 3,
  createdAt: '2026-11-24T00:00:00.000Z',
  name: 'n',
  volumeName: 'vn',
};

describe('block objects', () => {
  const encoder = new BlockEncoder();
  const decoder = new BlockDecoder();

  it('compresses a compressible block and gives back the same bytes', () => {
    const raw = Buffer.alloc(1 << 20, 'island ');
    const block = encoder.encode(raw);
    expect(block.codec).toBe(BlockCodec.Zstd);
    expect(block.object.length).toBeLessThan(raw.length / 10);
    expect(decoder.decode(block.object, block.hash).equals(raw)).toBe(true);
  });

  it('stores incompressible data raw and names it by the SHA-256 of its content', () => {
    const raw = randomBytes(65536);
    const block = encoder.encode(raw);
    expect(block.codec).toBe(BlockCodec.Raw);
    expect(block.hash.equals(hashBlock(raw))).toBe(true);
    expect(decoder.decode(block.object, block.hash).equals(raw)).toBe(true);
  });

  it('refuses a block whose bytes do not match its name, header or codec', () => {
    const raw = randomBytes(4096);
    const block = encoder.encode(raw);
    const flipped = Buffer.from(block.object);
    flipped[100] ^= 1;
    expect(() => decoder.decode(flipped, block.hash)).toThrow(/does not match its SHA-256 name/);
    const badMagic = Buffer.from(block.object);
    badMagic[0] = 0;
    expect(() => decoder.decode(badMagic, block.hash)).toThrow(/bad magic/);
    const badCodec = Buffer.from(block.object);
    badCodec[5] = 9;
    expect(() => decoder.decode(badCodec, block.hash)).toThrow(/unknown block codec 9/);
    expect(() => decoder.decode(block.object.subarray(0, 5), block.hash)).toThrow(CorruptObjectError);
  });

  it('refuses a compressed block whose header says another length than its frame holds, or more than a block', () => {
    const raw = Buffer.alloc(256 * 1024, 'island ');
    const block = encoder.encode(raw);
    expect(block.codec).toBe(BlockCodec.Zstd);
    const withLength = (length: number) => {
      const object = Buffer.from(block.object);
      object.writeUInt32BE(length, 8);
      return object;
    };
    expect(() => decoder.decode(withLength(raw.length - 1), block.hash)).toThrow(/does not decompress into the 262143 bytes its header says/);
    expect(() => decoder.decode(withLength(raw.length + 1), block.hash)).toThrow('holds 262144 bytes, its header says 262145');
    expect(() => decoder.decode(withLength(0xffffffff), block.hash)).toThrow(`its header says 4294967295 bytes, more than a block holds (${MAX_BLOCK_BYTES})`);
    expect(decoder.decode(block.object, block.hash).equals(raw)).toBe(true);
  });

  it('encodes blocks one after another in the encoder’s own memory without one changing another', () => {
    const first = Buffer.alloc(1 << 20, 'first ');
    const second = Buffer.alloc(1 << 20, 'second ');
    const a = encoder.encode(first);
    const b = encoder.encode(second);
    expect(decoder.decode(a.object, a.hash).equals(first)).toBe(true);
    expect(decoder.decode(b.object, b.hash).equals(second)).toBe(true);
  });
});

describe('manifests', () => {
  const hash = (i: number) => hashBlock(Buffer.from(`b${i}`));

  it('round-trips runs of blocks with holes between them', () => {
    const builder = new ManifestBuilder(1 << 20, 10 * (1 << 20) + 512, META);
    for (const i of [0, 1, 2, 5, 7, 8, 10]) builder.add(i, hash(i));
    const manifest = decodeManifest(encodeManifest(builder.build()), 'm');
    expect(manifest.runs).toEqual([
      { start: 0, count: 3 },
      { start: 5, count: 1 },
      { start: 7, count: 2 },
      { start: 10, count: 1 },
    ]);
    expect([...manifest.entries()].map((e) => [e.index, e.hash.equals(hash(e.index))])).toEqual([0, 1, 2, 5, 7, 8, 10].map((i) => [i, true]));
    expect(manifest.metadata).toEqual(META);
    expect(manifest.blockLength(10)).toBe(512);
  });

  it('costs no more than 32 bytes a block plus a small header for a fully written volume', () => {
    const blocks = 8192;
    const builder = new ManifestBuilder(1 << 20, blocks * (1 << 20), META);
    for (let i = 0; i < blocks; i++) builder.add(i, hash(i));
    const bytes = encodeManifest(builder.build()).length;
    expect(bytes).toBeLessThanOrEqual(blocks * 32 + 512);
  });

  it('rejects a damaged manifest with the reason', () => {
    const good = encodeManifest(new ManifestBuilder(1 << 20, 4 << 20, META).add(1, hash(1)).build());
    const flipped = Buffer.from(good);
    flipped[flipped.length - 1] ^= 1;
    expect(() => decodeManifest(flipped, 'm')).toThrow(/checksum mismatch/);
    expect(() => decodeManifest(good.subarray(0, 40), 'm')).toThrow(/shorter than its 64-byte header/);
    expect(() => decodeManifest(Buffer.concat([good, Buffer.alloc(1)]), 'm')).toThrow(/its header implies/);
  });

  it('refuses entries out of order or beyond the volume', () => {
    const builder = new ManifestBuilder(1 << 20, 2 << 20, META).add(1, hash(1));
    expect(() => builder.add(0, hash(0))).toThrow(/increasing block order/);
    expect(() => builder.add(2, hash(2))).toThrow(/beyond the volume's end/);
  });
});
