import { SwiftChecksumError, SwiftClient, SwiftConflictError, SwiftNotFoundError, SwiftObjectExistsError, SwiftProtocolError } from '@island/swift';
import { BlockDecoder, BlockEncoder, EncodedBlock } from './block-codec';
import { blockBuffers } from './block-buffers';
import { Readable } from 'node:stream';
import { ByteReader } from './byte-reader';
import { decodeManifest, encodeManifest, isSealedManifest, openManifest } from './manifest-codec';
import { isStreamedManifest, openStreamedManifest, sealedManifestSegments } from './streamed-manifest-codec';
import { WrappedProjectKey } from './crypto/key-wrapping';
import { ProjectKeys } from './crypto/project-keys';
import { CorruptObjectError } from './blockstore-errors';
import { injectedBlockFaults } from './injected-block-faults';
import { collectManifest, Manifest, manifestDigest, ManifestEntry, ManifestHeader, ManifestReader } from './manifest';

/** GETs of a block whose body arrives damaged before it counts as stored damaged. */
export const BLOCK_READ_ATTEMPTS = 3;

/** A block body that arrived unusable and is about to be fetched again. */
export interface BlockRefetch {
  hash: Buffer;
  region: string | undefined;
  /** `corrupt`: it failed verification; `truncated`: the reply ended before its Content-Length. */
  reason: 'corrupt' | 'truncated';
  detail: string;
  /** The GET that failed (1-based). */
  attempt: number;
}

export interface BlockStoreOptions {
  /** The region the container is in, named in errors. */
  region?: string;
  /** Told of each body that is fetched again (for logs and metrics). */
  onRefetch?: (refetch: BlockRefetch) => void;
}

/** Object names in a region's container. Blocks are named by content; manifests by volume and sequence. */
export const objectNames = {
  block: (hash: Buffer) => `blocks/${hash.toString('hex')}`,
  blockPrefix: 'blocks/',
  blockHash: (name: string): Buffer | undefined => {
    const m = /^blocks\/([0-9a-f]{64})$/.exec(name);
    return m ? Buffer.from(m[1], 'hex') : undefined;
  },
  manifest: (volumeId: string, seq: number, snapshotId: string) => `manifests/${volumeId}/${String(seq).padStart(10, '0')}-${snapshotId}`,
  manifestPrefix: (volumeId?: string) => (volumeId ? `manifests/${volumeId}/` : 'manifests/'),
  /** A project's master key wrapped by a KEK, kept beside its data so that Swift and the KEK alone can open it. */
  projectKey: (projectId: string) => `keys/${projectId}`,
  projectKeyPrefix: 'keys/',
};

/** Swift metadata of a sealed manifest: the project whose key opens it (read only by a catalog rebuild). */
const MANIFEST_PROJECT_META = 'project';

export type PutBlockOutcome = 'stored' | 'already-present';

/**
 * One region's blocks and manifests in one Swift container. Blocks are write-once (`If-None-Match: *`):
 * a name always means the same bytes, so a block that already exists is never replaced.
 */
export class SwiftBlockStore {
  private readonly decoder = new BlockDecoder();

  constructor(
    readonly swift: SwiftClient,
    readonly container: string,
    private readonly options: BlockStoreOptions = {},
  ) {}

  ensureContainer(): Promise<void> {
    return this.swift.createContainer(this.container);
  }

  /**
   * Stores an encoded block; an existing object of the same name already holds the same bytes. `md5`, its object's
   * MD5 when the caller computed it (md5Many, several blocks at once), else the Swift client computes it.
   */
  putBlock(block: EncodedBlock, md5?: string): Promise<PutBlockOutcome> {
    return this.putBlockObject(block.hash, block.object, md5);
  }

  /**
   * Stores a block object as another region holds it (copy between regions): the bytes go unchanged, with
   * the MD5 they arrived with, so Swift refuses them if a bit flipped on the way.
   */
  async putBlockObject(hash: Buffer, object: Buffer, md5?: string): Promise<PutBlockOutcome> {
    try {
      await this.swift.putObject(this.container, objectNames.block(hash), object, { ifNoneMatch: true, md5 });
      return 'stored';
    } catch (error) {
      if (error instanceof SwiftObjectExistsError) return 'already-present';
      throw error;
    }
  }

  /**
   * A block's stored object as it is, with the MD5 Swift stores for it, for a copy to another region:
   * putBlockObject elsewhere with that MD5 makes the receiving Swift check the bytes end to end. Its memory comes from
   * blockBuffers: give it back once sent.
   */
  readBlockObject(hash: Buffer): Promise<{ data: Buffer; md5: string }> {
    return this.swift.getObjectForCopy(this.container, objectNames.block(hash), (length) => blockBuffers.takeForCopiedBytes(length));
  }

  /**
   * Reads, decodes and verifies a block against its name (the SHA-256 of a plain block; for a sealed one, `keys`
   * authenticate it and name its content). A body that fails the check or arrives cut short is
   * fetched again, up to BLOCK_READ_ATTEMPTS GETs in all: bytes damaged in transit come right; an object stored
   * damaged keeps failing, with a CorruptObjectError naming the block, its region and what was wrong.
   * `lent`: a sealed block's content comes in memory lent from blockBuffers — give it back once done with it.
   */
  async getBlock(hash: Buffer, keys?: ProjectKeys, options: { lent?: boolean } = {}): Promise<Buffer> {
    const name = objectNames.block(hash);
    const object = `${this.container}/${name}`;
    for (let attempt = 1; ; attempt++) {
      try {
        const body = await injectedBlockFaults.read(hash, object, () =>
          this.swift.getObject(this.container, name, undefined, { verifyMd5: false, memory: (length) => blockBuffers.takeForCopiedBytes(length) }),
        );
        // the name inside the container is what a sealed block binds: the same in every region's container
        const content = this.decoder.decode(body, hash, name, keys, options.lent ? blockBuffers : undefined);
        if (content.buffer !== body.buffer) blockBuffers.giveBack(body); // opened or decompressed into memory of its own
        return content;
      } catch (error) {
        const damage = damageOf(error);
        if (!damage) throw error;
        if (attempt >= BLOCK_READ_ATTEMPTS) {
          const region = this.options.region ? `region ${this.options.region}, ` : '';
          throw new CorruptObjectError(`block ${hash.toString('hex')} (${region}${object})`, `${damage.detail} (on each of ${attempt} GETs)`);
        }
        this.options.onRefetch?.({ hash, region: this.options.region, ...damage, attempt });
      }
    }
  }

  /** Reads a block and checks it against its name as getBlock does, keeping nothing. */
  async checkBlock(hash: Buffer, keys?: ProjectKeys): Promise<void> {
    blockBuffers.giveBack(await this.getBlock(hash, keys, { lent: true }));
  }

  /**
   * Repairs this container's object of a block from another region's store: reads `source`'s object, checks that it
   * decodes and authenticates under the block's name (with `keys` for a sealed block; the name bound in is the same in
   * every region's container), PUTs it here with its MD5 over whatever is here, and reads it back through getBlock.
   * This and replaceBlock are the writes that replace a block object (every other PUT is write-once): what they
   * replace is missing or failed that same check, and what replaces it is the block's own bytes. Returns the object's
   * size. Throws SwiftNotFoundError when `source` lacks the block, CorruptObjectError when its copy is damaged too or
   * the repaired object does not read back whole.
   */
  async repairBlockFrom(source: SwiftBlockStore, hash: Buffer, keys?: ProjectKeys): Promise<number> {
    const { data, md5 } = await source.readBlockObject(hash);
    this.decoder.decode(data, hash, objectNames.block(hash), keys);
    return this.replaceVerified(hash, data, md5, keys);
  }

  /**
   * Repairs this container's object of a block from its content encoded anew (read from a volume that still holds
   * it): checked to decode under its name, PUT over whatever is here, read back through getBlock. Returns its size.
   */
  async replaceBlock(block: EncodedBlock, keys?: ProjectKeys): Promise<number> {
    this.decoder.decode(block.object, block.hash, objectNames.block(block.hash), keys);
    return this.replaceVerified(block.hash, block.object, undefined, keys);
  }

  private async replaceVerified(hash: Buffer, object: Buffer, md5: string | undefined, keys?: ProjectKeys): Promise<number> {
    await this.swift.putObject(this.container, objectNames.block(hash), object, { md5 });
    await this.checkBlock(hash, keys);
    return object.length;
  }

  /** The stored object's size, or undefined when it is absent. */
  async blockObjectSize(hash: Buffer): Promise<number | undefined> {
    try {
      return (await this.swift.headObject(this.container, objectNames.block(hash))).size;
    } catch (error) {
      if (error instanceof SwiftNotFoundError) return undefined;
      throw error;
    }
  }

  /**
   * Deletes a block object; one already gone counts as deleted. `newer-kept`: Swift holds a copy written after it
   * stamped this delete, which the delete does not remove. Nothing is sent once `signal` has fired.
   */
  async deleteBlock(hash: Buffer, signal?: AbortSignal): Promise<'deleted' | 'newer-kept'> {
    try {
      await this.swift.deleteObject(this.container, objectNames.block(hash), { ignoreMissing: true, signal });
      return 'deleted';
    } catch (error) {
      if (error instanceof SwiftConflictError) return 'newer-kept';
      throw error;
    }
  }

  /**
   * Writes a manifest: sealed and streamed (format 3) under its project's keys as its entries come, or plain (format 1,
   * only for tests of older stores) without keys. `entries` is called again for each attempt. A retry after a lost
   * reply finds the same manifest already there: its content is compared, not its bytes (nonces differ each time).
   * One there that cannot be read is what an earlier attempt left when its bytes were changed on the way (a streamed
   * body's MD5 is only known once sent, so Swift could not refuse it): the name is this snapshot's alone and the
   * manifest not yet recorded anywhere, so ours replaces it. Returns its object name and size.
   */
  async putManifest(
    header: ManifestHeader,
    entries: () => AsyncIterable<ManifestEntry[]>,
    keys: ProjectKeys | undefined,
  ): Promise<{ name: string; bytes: number }> {
    const { volumeId, seq, snapshotId } = header.metadata;
    const name = objectNames.manifest(volumeId, seq, snapshotId);
    let bytes = 0;
    const put = async (ifNoneMatch: boolean) => {
      if (keys) {
        const body = () => {
          bytes = 0;
          return Readable.from(counted(sealedManifestSegments(header, entries(), keys, name), (n) => (bytes += n)));
        };
        await this.swift.putObject(this.container, name, body, { ifNoneMatch, headers: { [`x-object-meta-${MANIFEST_PROJECT_META}`]: keys.projectId } });
      } else {
        const plain = encodeManifest(await collectManifest(header, entries()));
        bytes = plain.length;
        await this.swift.putObject(this.container, name, plain, { ifNoneMatch });
      }
    };
    try {
      await put(true);
    } catch (error) {
      if (!(error instanceof SwiftObjectExistsError)) throw error;
      const [theirs, ours] = await Promise.all([this.storedManifestDigest(name, keys), manifestDigest(header, entries())]);
      if (theirs === undefined) {
        await put(false);
        return { name, bytes };
      }
      if (theirs !== ours) throw new Error(`manifest ${name} already exists with different content`);
      return { name, bytes: (await this.swift.headObject(this.container, name)).size };
    }
    return { name, bytes };
  }

  /** The content digest of the manifest stored under `name`, or undefined when what is stored is not a readable one. */
  private async storedManifestDigest(name: string, keys: ProjectKeys | undefined): Promise<string | undefined> {
    try {
      const existing = await this.readManifest(name, keys, keys !== undefined);
      return await manifestDigest(existing.header, existing.batches());
    } catch (error) {
      if (error instanceof CorruptObjectError || error instanceof SwiftChecksumError) return undefined;
      throw error;
    }
  }

  /** putManifest of a manifest already in memory. */
  putWholeManifest(manifest: Manifest, keys?: ProjectKeys): Promise<{ name: string; bytes: number }> {
    return this.putManifest(manifest.header, () => manifest.batches(), keys);
  }

  /**
   * Opens a manifest for reading as it arrives (ManifestReader). `sealed`: whether it was written sealed (the catalog
   * records it): a plain object under the name of a sealed manifest is a replacement — anyone who can write to Swift
   * can forge a plain one — and is refused. A sealed one needs its project's keys; a plain one (written before
   * encryption) does not. Manifests of the older whole-object formats are read whole.
   */
  async readManifest(name: string, keys: ProjectKeys | undefined, sealed: boolean): Promise<ManifestReader> {
    return (await this.openManifestObject(name, () => keys, sealed ? 'refuse' : 'accept')).reader;
  }

  /** Reads a whole manifest into memory (small manifests, tests). */
  async getManifest(name: string, keys: ProjectKeys | undefined, sealed: boolean): Promise<Manifest> {
    const reader = await this.readManifest(name, keys, sealed);
    return collectManifest(reader.header, reader.batches());
  }

  /**
   * Opens a manifest without knowing its project (a catalog rebuild): a sealed one names its project in its Swift
   * metadata, and `keysOf` gives that project's keys; the keys then authenticate that it is the project's. A plain
   * one authenticates nothing: it is returned only with `acceptPlain` (the operator says the store holds data from
   * before encryption), else undefined.
   */
  async readManifestOfAnyProject(
    name: string,
    keysOf: (projectId: string) => Promise<ProjectKeys | undefined>,
    acceptPlain: boolean,
  ): Promise<{ reader: ManifestReader; sealed: boolean } | undefined> {
    const label = `${this.container}/${name}`;
    let projectId: string | undefined;
    const opened = await this.openManifestObject(
      name,
      async (metadata) => {
        projectId = metadata[MANIFEST_PROJECT_META];
        if (!projectId) throw new CorruptObjectError(label, `is sealed and names no project (X-Object-Meta-${MANIFEST_PROJECT_META})`);
        return keysOf(projectId);
      },
      acceptPlain ? 'accept' : 'skip',
    );
    if (!opened) return undefined;
    if (opened.sealed && opened.reader.header.metadata.projectId !== projectId) {
      opened.reader.close();
      throw new CorruptObjectError(label, `says project ${opened.reader.header.metadata.projectId}, sealed by ${projectId}`);
    }
    return opened;
  }

  /** readManifestOfAnyProject, read whole (small manifests, tests). */
  async getManifestOfAnyProject(
    name: string,
    keysOf: (projectId: string) => Promise<ProjectKeys | undefined>,
    acceptPlain: boolean,
  ): Promise<{ manifest: Manifest; sealed: boolean } | undefined> {
    const read = await this.readManifestOfAnyProject(name, keysOf, acceptPlain);
    return read && { manifest: await collectManifest(read.reader.header, read.reader.batches()), sealed: read.sealed };
  }

  /** `plain`: what to do with a plain (format 1) manifest — read it, refuse it as a replacement, or skip it (undefined). */
  private async openManifestObject(
    name: string,
    keysFor: (metadata: Record<string, string>) => ProjectKeys | undefined | Promise<ProjectKeys | undefined>,
    plain: 'accept' | 'refuse',
  ): Promise<{ reader: ManifestReader; sealed: boolean }>;
  private async openManifestObject(
    name: string,
    keysFor: (metadata: Record<string, string>) => ProjectKeys | undefined | Promise<ProjectKeys | undefined>,
    plain: 'accept' | 'refuse' | 'skip',
  ): Promise<{ reader: ManifestReader; sealed: boolean } | undefined>;
  private async openManifestObject(
    name: string,
    keysFor: (metadata: Record<string, string>) => ProjectKeys | undefined | Promise<ProjectKeys | undefined>,
    plain: 'accept' | 'refuse' | 'skip',
  ): Promise<{ reader: ManifestReader; sealed: boolean } | undefined> {
    const label = `${this.container}/${name}`;
    const { stream, etag, metadata, verified } = await this.swift.getObjectStream(this.container, name);
    const close = () => stream.destroy();
    try {
      const object = new ByteReader(stream);
      const head = await object.peek(5);
      const isPlain = !isStreamedManifest(head) && !isSealedManifest(head);
      if (isPlain && plain === 'refuse') throw new CorruptObjectError(label, 'is plain, but this manifest was written sealed: it was replaced in Swift');
      if (isPlain && plain === 'skip') {
        close();
        return undefined;
      }
      const keys = isPlain ? undefined : await keysFor(metadata);
      if (!isPlain && !keys) throw new CorruptObjectError(label, 'is sealed and its project has no key to open it');
      if (!isStreamedManifest(head)) {
        const whole = await object.rest();
        await verified;
        return { reader: this.decodeManifestObject(name, whole, keys).reader(etag), sealed: !isPlain };
      }
      const { header, batches } = await openStreamedManifest(object, keys as ProjectKeys, name, label);
      async function* checked(): AsyncGenerator<ManifestEntry[]> {
        try {
          yield* batches;
          await verified; // the transfer's MD5 as well as every segment's tag
        } finally {
          close();
        }
      }
      return { reader: { header, etag, batches: checked, close }, sealed: true };
    } catch (error) {
      close();
      throw error;
    }
  }

  /** Decodes a whole manifest object of the older formats: opened with its project's keys when it is sealed. */
  private decodeManifestObject(name: string, object: Buffer, keys: ProjectKeys | undefined): Manifest {
    const label = `${this.container}/${name}`;
    if (!isSealedManifest(object)) return decodeManifest(object, label);
    if (!keys) throw new CorruptObjectError(label, 'is sealed and its project has no key to open it');
    return decodeManifest(openManifest(object, keys, name), label);
  }

  /** Keeps a project's wrapped key in this container; `ifAbsent`: only when it holds none ('exists' otherwise). */
  async putProjectKey(wrapped: WrappedProjectKey, options: { ifAbsent?: boolean } = {}): Promise<'stored' | 'exists'> {
    try {
      await this.swift.putObject(this.container, objectNames.projectKey(wrapped.projectId), Buffer.from(JSON.stringify(wrapped)), {
        headers: { 'content-type': 'application/json' },
        ifNoneMatch: options.ifAbsent,
      });
      return 'stored';
    } catch (error) {
      if (error instanceof SwiftObjectExistsError) return 'exists';
      throw error;
    }
  }

  /** The wrapped key of a project kept in this container. */
  async getProjectKey(projectId: string): Promise<WrappedProjectKey> {
    const name = objectNames.projectKey(projectId);
    const body = await this.swift.getObject(this.container, name);
    try {
      return JSON.parse(body.toString('utf8')) as WrappedProjectKey;
    } catch {
      throw new CorruptObjectError(`${this.container}/${name}`, 'is not a wrapped project key (not JSON)');
    }
  }

  /** Every wrapped project key kept in this container. */
  async listProjectKeys(): Promise<WrappedProjectKey[]> {
    const keys: WrappedProjectKey[] = [];
    for await (const o of this.swift.iterateObjects(this.container, { prefix: objectNames.projectKeyPrefix })) {
      keys.push(await this.getProjectKey(o.name.slice(objectNames.projectKeyPrefix.length)));
    }
    return keys;
  }

  async deleteManifest(name: string): Promise<void> {
    await this.swift.deleteObject(this.container, name, { ignoreMissing: true });
  }
}

/** Why a block body is worth fetching again, or undefined when the error is not about the body. */
function damageOf(error: unknown): Pick<BlockRefetch, 'reason' | 'detail'> | undefined {
  if (error instanceof CorruptObjectError) return { reason: 'corrupt', detail: error.problem };
  if (error instanceof SwiftProtocolError && error.operation === 'GET') return { reason: 'truncated', detail: error.message };
  return undefined;
}

/** Encoders hold a zstd context each; a small pool lets concurrent uploads share them safely. */
export class BlockEncoderPool {
  private readonly idle: BlockEncoder[] = [];

  with<T>(work: (encoder: BlockEncoder) => T): T {
    const encoder = this.idle.pop() ?? new BlockEncoder();
    try {
      return work(encoder);
    } finally {
      this.idle.push(encoder);
    }
  }
}

async function* counted(chunks: AsyncIterable<Buffer>, count: (bytes: number) => void): AsyncGenerator<Buffer> {
  for await (const chunk of chunks) {
    count(chunk.length);
    yield chunk;
  }
}
