import { randomBytes, randomUUID } from 'node:crypto';
import { loadConfig } from '@island/config';
import { SwiftProtocolError, swiftClientFor } from '@island/swift';
import {
  BlockEncoder,
  BlockRefetch,
  CorruptObjectError,
  encodeManifest,
  ManifestBuilder,
  objectNames,
  ProjectKeys,
  sealManifest,
  SwiftBlockStore,
} from './index';

/** Runs against the real Swift of `scripts/services.sh up`. */
describe('SwiftBlockStore', () => {
  const region = loadConfig(process.env).regions[0];
  const swift = swiftClientFor(region, { concurrency: 4, timeoutMs: 30_000, retries: 1 });
  const store = new SwiftBlockStore(swift, `island-test-blocks-${randomUUID().slice(0, 8)}`);
  const encoder = new BlockEncoder();

  const manifestMetadata = (seq: number) => ({
    volumeId: randomUUID(),
    snapshotId: randomUUID(),
    projectId: 'demo',
    region: region.name,
    seq,
    createdAt: '',
    name: '',
    volumeName: '',
  });

  beforeAll(() => store.ensureContainer());
  afterAll(async () => {
    const names = [];
    for await (const e of swift.iterateObjects(store.container)) names.push({ container: store.container, name: e.name });
    await swift.bulkDelete([...names, { container: store.container }]);
    await swift.close();
  });

  it('stores a block once and reads back the same bytes, compressed or not', async () => {
    for (const raw of [randomBytes(65_536), Buffer.alloc(65_536, 'island')]) {
      const block = encoder.encode(raw);
      expect(await store.putBlock(block)).toBe('stored');
      expect(await store.putBlock(block)).toBe('already-present');
      expect(await store.getBlock(block.hash)).toEqual(raw);
      expect(await store.blockObjectSize(block.hash)).toBe(block.object.length);
    }
  });

  it('refuses a block object whose bytes do not match its name', async () => {
    const good = encoder.encode(randomBytes(4096));
    const other = encoder.encode(randomBytes(4096));
    await swift.putObject(store.container, objectNames.block(good.hash), other.object);
    const error = await store.getBlock(good.hash).catch((e) => e);
    expect(error).toBeInstanceOf(CorruptObjectError);
    expect(error.message).toContain(objectNames.block(good.hash));
  });

  it('fetches a block again when its body arrives damaged, and gives up on one stored damaged', async () => {
    const raw = randomBytes(8192);
    const block = encoder.encode(raw);
    await store.putBlock(block);
    // a transport that flips a byte of the first body it returns (in transit), then behaves
    let flips = 1;
    const flaky = Object.create(swift, {
      getObject: {
        value: async (...args: Parameters<typeof swift.getObject>) => {
          const body = await swift.getObject(...args);
          if (flips-- > 0) body[body.length - 1] ^= 0xff;
          return body;
        },
      },
    }) as typeof swift;
    const healing = new SwiftBlockStore(flaky, store.container);
    expect(await healing.getBlock(block.hash)).toEqual(raw);
    expect(flips).toBe(-1);
    flips = 10; // damaged every time: as if stored so
    await expect(healing.getBlock(block.hash)).rejects.toBeInstanceOf(CorruptObjectError);
    expect(flips).toBe(7); // three GETs, then the error
  });

  it('fetches a block again when its reply ends before its Content-Length, and reports each body fetched again', async () => {
    const raw = randomBytes(8192);
    const block = encoder.encode(raw);
    await store.putBlock(block);
    let cuts = 1;
    const cutting = Object.create(swift, {
      getObject: {
        value: async (...args: Parameters<typeof swift.getObject>) => {
          const body = await swift.getObject(...args);
          if (cuts-- > 0) throw new SwiftProtocolError('GET', args[1], 200, `reply ended after ${body.length >> 1} of ${body.length} bytes`);
          return body;
        },
      },
    }) as typeof swift;
    const refetches: BlockRefetch[] = [];
    const healing = new SwiftBlockStore(cutting, store.container, { region: 'RegionOne', onRefetch: (r) => refetches.push(r) });
    expect(await healing.getBlock(block.hash)).toEqual(raw);
    expect(refetches).toEqual([
      { hash: block.hash, region: 'RegionOne', reason: 'truncated', detail: expect.stringContaining('reply ended after'), attempt: 1 },
    ]);
  });

  it('names the block, its region and what was wrong when every GET brings it damaged', async () => {
    const good = encoder.encode(randomBytes(4096));
    await swift.putObject(store.container, objectNames.block(good.hash), Buffer.concat([good.object.subarray(0, 12), randomBytes(4096)]));
    const refetches: BlockRefetch[] = [];
    const named = new SwiftBlockStore(swift, store.container, { region: 'RegionOne', onRefetch: (r) => refetches.push(r) });
    const error = await named.getBlock(good.hash).catch((e) => e);
    expect(error).toBeInstanceOf(CorruptObjectError);
    expect(error.message).toBe(
      `block ${good.hash.toString('hex')} (region RegionOne, ${store.container}/blocks/${good.hash.toString('hex')}): content does not match its SHA-256 name (on each of 3 GETs)`,
    );
    expect(refetches.map((r) => [r.reason, r.attempt])).toEqual([
      ['corrupt', 1],
      ['corrupt', 2],
    ]);
  });

  it('deletes a block, counting one already gone as deleted, and sends nothing once its signal fired', async () => {
    const [kept, deleted] = [encoder.encode(randomBytes(1000)), encoder.encode(randomBytes(1000))];
    await Promise.all([store.putBlock(kept), store.putBlock(deleted)]);
    expect(await store.deleteBlock(deleted.hash)).toBe('deleted');
    expect(await store.deleteBlock(deleted.hash)).toBe('deleted');
    expect(await store.blockObjectSize(deleted.hash)).toBeUndefined();
    await expect(store.deleteBlock(kept.hash, AbortSignal.abort())).rejects.toThrow();
    expect(await store.blockObjectSize(kept.hash)).toBe(kept.object.length);
  });

  it('repairs a corrupt or missing block object from another container holding it whole, and refuses a copy that does not authenticate', async () => {
    const other = new SwiftBlockStore(swift, `${store.container}-other`);
    await other.ensureContainer();
    try {
      const keys = new ProjectKeys('demo', ProjectKeys.newMasterKey());
      const raw = randomBytes(70_000);
      const sealed = encoder.encodeSealed(raw, keys, objectNames.block);
      await store.putBlock(sealed);
      await other.putBlock(sealed);
      const damaged = Buffer.from(sealed.object);
      damaged[damaged.length - 1] ^= 0xff;
      await swift.putObject(store.container, objectNames.block(sealed.hash), damaged);
      await expect(store.getBlock(sealed.hash, keys)).rejects.toThrow(CorruptObjectError);

      expect(await store.repairBlockFrom(other, sealed.hash, keys)).toBe(sealed.object.length);
      expect(await store.getBlock(sealed.hash, keys)).toEqual(raw);
      await store.deleteBlock(sealed.hash);
      expect(await store.repairBlockFrom(other, sealed.hash, keys)).toBe(sealed.object.length);
      expect(await store.getBlock(sealed.hash, keys)).toEqual(raw);

      // the other copy damaged too: nothing is written here
      await swift.putObject(other.container, objectNames.block(sealed.hash), damaged);
      await store.deleteBlock(sealed.hash);
      await expect(store.repairBlockFrom(other, sealed.hash, keys)).rejects.toThrow(CorruptObjectError);
      expect(await store.blockObjectSize(sealed.hash)).toBeUndefined();
    } finally {
      const names = [];
      for await (const e of swift.iterateObjects(other.container)) names.push({ container: other.container, name: e.name });
      await swift.bulkDelete([...names, { container: other.container }]);
    }
  });

  it('writes a sealed manifest idempotently, reports its stored size, reads it back, and refuses a plain one put in its place', async () => {
    const metadata = { ...manifestMetadata(3), createdAt: new Date().toISOString(), name: 'nightly', volumeName: 'db' };
    const manifest = new ManifestBuilder(1 << 20, 10 << 20, metadata).add(0, randomBytes(32)).add(7, randomBytes(32)).build();
    const keys = new ProjectKeys('demo', ProjectKeys.newMasterKey());
    const { name, bytes } = await store.putWholeManifest(manifest, keys);
    expect(name).toBe(`manifests/${metadata.volumeId}/0000000003-${metadata.snapshotId}`);
    expect(bytes).toBe((await store.swift.headObject(store.container, name)).size);
    // a retry after a lost reply: another nonce, the same manifest, so it counts as written
    expect(await store.putWholeManifest(manifest, keys)).toEqual({ name, bytes });
    const back = await store.getManifest(name, keys, true);
    expect(back.metadata).toEqual(metadata);
    expect(back.hashes).toEqual(manifest.hashes);
    expect((await store.getManifestOfAnyProject(name, async (p) => (p === 'demo' ? keys : undefined), false))?.sealed).toBe(true);
    await expect(store.getManifest(name, undefined, true)).rejects.toThrow('is sealed and its project has no key to open it');

    // anyone who can write to Swift can forge a plain manifest: under a sealed one's name it is refused
    await store.swift.putObject(store.container, name, encodeManifest(manifest));
    await expect(store.getManifest(name, keys, true)).rejects.toThrow(CorruptObjectError);
    await expect(store.getManifest(name, keys, true)).rejects.toThrow('is plain, but this manifest was written sealed: it was replaced in Swift');
    expect(await store.getManifestOfAnyProject(name, async () => keys, false)).toBeUndefined(); // a rebuild leaves it out
    expect((await store.getManifest(name, keys, false)).hashes).toEqual(manifest.hashes); // written before encryption
  });

  it('streams a manifest of many segments to Swift and back, entry for entry, without holding it whole', async () => {
    const metadata = manifestMetadata(1);
    const keys = new ProjectKeys('demo', ProjectKeys.newMasterKey());
    const entryCount = 100_000; // 3.2 MB of names: four segments
    const nameOf = (index: number) => Buffer.alloc(32, index % 251).fill(index & 0xff, 0, 1);
    const indexOf = (k: number) => k * 2 + (k > 50_000 ? 7 : 0); // holes everywhere, one wider gap
    async function* entries() {
      for (let k = 0; k < entryCount; k += 1000) yield Array.from({ length: 1000 }, (_, i) => ({ index: indexOf(k + i), hash: nameOf(k + i) }));
    }
    const header = { blockSize: 4096, volumeSize: 4096 * 300_000, metadata, entryCount };
    const { name, bytes } = await store.putManifest(header, entries, keys);
    expect(bytes).toBeGreaterThan(entryCount * 32);
    const reader = await store.readManifest(name, keys, true);
    expect(reader.header).toEqual(header);
    let k = 0;
    let differing = 0;
    for await (const batch of reader.batches()) {
      for (const entry of batch) {
        if (entry.index !== indexOf(k) || !entry.hash.equals(nameOf(k))) differing++;
        k++;
      }
    }
    expect({ entries: k, differing }).toEqual({ entries: entryCount, differing: 0 });
    // written again (a retry after a lost reply): the same content counts as written; other content is refused
    expect(await store.putManifest(header, entries, keys)).toEqual({ name, bytes });
    const other = async function* () {
      for await (const batch of entries()) yield batch.map((e) => ({ ...e, hash: e.index === 10 ? Buffer.alloc(32, 9) : e.hash }));
    };
    await expect(store.putManifest(header, other, keys)).rejects.toThrow('already exists with different content');
    // a header that counts other than what comes is never stored
    const wrongCount = { ...header, metadata: { ...metadata, snapshotId: randomUUID() }, entryCount: entryCount + 1 };
    await expect(store.putManifest(wrongCount, entries, keys)).rejects.toThrow();
    expect(await store.swift.objectExists(store.container, objectNames.manifest(metadata.volumeId, 1, wrongCount.metadata.snapshotId))).toBe(false);
  }, 120_000);

  it('replaces a manifest an earlier attempt left changed in Swift, and reads back the one it wrote', async () => {
    const metadata = manifestMetadata(4);
    const keys = new ProjectKeys('demo', ProjectKeys.newMasterKey());
    const manifest = new ManifestBuilder(1 << 20, 10 << 20, metadata).add(1, randomBytes(32)).add(5, randomBytes(32)).build();
    const { name } = await store.putWholeManifest(manifest, keys);
    // what a write whose bytes were changed on the way leaves: Swift stored them (a streamed PUT sends no ETag)
    const stored = await store.swift.getObjectWithMetadata(store.container, name);
    const changed = Buffer.from(stored.data);
    changed[changed.length - 20] ^= 0x10;
    await store.swift.putObject(store.container, name, changed, { headers: { 'x-object-meta-project': 'demo' } });
    await expect(store.getManifest(name, keys, true)).rejects.toThrow(CorruptObjectError);

    const written = await store.putWholeManifest(manifest, keys);
    expect(written).toEqual({ name, bytes: (await store.swift.headObject(store.container, name)).size });
    expect((await store.getManifest(name, keys, true)).hashes).toEqual(manifest.hashes);
  });

  it('still reads the manifests it wrote whole, sealed (format 2) or plain (format 1)', async () => {
    const metadata = manifestMetadata(2);
    const manifest = new ManifestBuilder(1 << 20, 10 << 20, metadata).add(1, randomBytes(32)).add(2, randomBytes(32)).build();
    const keys = new ProjectKeys('demo', ProjectKeys.newMasterKey());
    const name = objectNames.manifest(metadata.volumeId, 2, metadata.snapshotId);
    await store.swift.putObject(store.container, name, sealManifest(encodeManifest(manifest), keys, name));
    expect((await store.getManifest(name, keys, true)).hashes).toEqual(manifest.hashes);
    await store.swift.putObject(store.container, name, encodeManifest(manifest));
    expect((await store.getManifest(name, undefined, false)).hashes).toEqual(manifest.hashes);
  });
});
