import { createHash } from 'node:crypto';

/** What a manifest says about its snapshot, so that Swift alone can rebuild the catalog. */
export interface ManifestMetadata {
  volumeId: string;
  snapshotId: string;
  projectId: string;
  region: string;
  /** The snapshot's sequence number within its volume. */
  seq: number;
  createdAt: string;
  name: string;
  volumeName: string;
  /** A copy in another region: the original snapshot's id; `volumeId` is then the replica's. */
  copyOf?: string;
  /** A copy: the user volume whose replica `volumeId` is. */
  replicaOf?: string;
}

export interface ManifestRun {
  /** First block index of a run of consecutive non-hole blocks. */
  start: number;
  count: number;
}

export interface ManifestEntry {
  index: number;
  hash: Buffer;
}

/** What a manifest says before its entries. */
export interface ManifestHeader {
  blockSize: number;
  volumeSize: number;
  metadata: ManifestMetadata;
  /** Blocks that are not holes. */
  entryCount: number;
}

/**
 * A manifest being read: its header, then its entries in increasing block order, in batches, read as they are needed
 * (a manifest of a 4 TiB volume is 128 MiB of names; none is held whole). `batches()` is read once; `close()` lets go of
 * the reply when the reader stops early.
 */
export interface ManifestReader {
  readonly header: ManifestHeader;
  /** The stored object's ETag (MD5): with its name, which object was read (manifests are write-once). */
  readonly etag?: string;
  batches(): AsyncGenerator<ManifestEntry[]>;
  close(): void;
}

/** Bytes of guest data block `index` covers in a volume of `volumeSize` (the last block may be short). */
export function blockLength(header: Pick<ManifestHeader, 'blockSize' | 'volumeSize'>, index: number): number {
  return Math.min(header.blockSize, header.volumeSize - index * header.blockSize);
}

/**
 * A snapshot's complete block map: for every block index, the SHA-256 of its content or a hole. Holes
 * cost nothing; each run of consecutive stored blocks costs 12 bytes plus 32 per block.
 */
export class Manifest {
  constructor(
    readonly blockSize: number,
    readonly volumeSize: number,
    readonly metadata: ManifestMetadata,
    readonly runs: readonly ManifestRun[],
    /** Concatenated 32-byte hashes of the runs' blocks, in block order. */
    readonly hashes: Buffer,
  ) {}

  get blockCount(): number {
    return Math.ceil(this.volumeSize / this.blockSize);
  }

  get entryCount(): number {
    return this.hashes.length / 32;
  }

  get header(): ManifestHeader {
    return { blockSize: this.blockSize, volumeSize: this.volumeSize, metadata: this.metadata, entryCount: this.entryCount };
  }

  /** Bytes of guest data the block at `index` covers (the last block may be short). */
  blockLength(index: number): number {
    return blockLength(this, index);
  }

  /** The entries in batches of at most `size`, as a ManifestReader gives them. */
  async *batches(size = 4096): AsyncGenerator<ManifestEntry[]> {
    let batch: ManifestEntry[] = [];
    for (const entry of this.entries()) {
      batch.push(entry);
      if (batch.length === size) {
        yield batch;
        batch = [];
      }
    }
    if (batch.length > 0) yield batch;
  }

  /** This manifest, already in memory, as a reader. */
  reader(etag?: string): ManifestReader {
    return { header: this.header, etag, batches: () => this.batches(), close: () => undefined };
  }

  *entries(): Generator<ManifestEntry> {
    let at = 0;
    for (const run of this.runs) {
      for (let i = 0; i < run.count; i++, at += 32) {
        yield { index: run.start + i, hash: this.hashes.subarray(at, at + 32) };
      }
    }
  }
}

/** Reads a whole manifest into memory (for small manifests and tests: a big one is read batch by batch instead). */
export async function collectManifest(header: ManifestHeader, batches: AsyncIterable<ManifestEntry[]>): Promise<Manifest> {
  const builder = new ManifestBuilder(header.blockSize, header.volumeSize, header.metadata);
  for await (const batch of batches) for (const { index, hash } of batch) builder.add(index, hash);
  return builder.build();
}

/** SHA-256 (hex) of what a manifest says — geometry, metadata and every entry — whatever format it is stored in. */
export async function manifestDigest(header: ManifestHeader, batches: AsyncIterable<ManifestEntry[]>): Promise<string> {
  const hash = createHash('sha256').update(`${header.blockSize}/${header.volumeSize}/${header.entryCount}/${JSON.stringify(header.metadata)}\0`);
  const index = Buffer.alloc(8);
  for await (const batch of batches) {
    for (const entry of batch) {
      index.writeBigUInt64BE(BigInt(entry.index));
      hash.update(index).update(entry.hash);
    }
  }
  return hash.digest('hex');
}

/** Builds a manifest from entries given in increasing block order. */
export class ManifestBuilder {
  private readonly runs: ManifestRun[] = [];
  private readonly chunks: Buffer[] = [];
  private last = -1;

  constructor(
    private readonly blockSize: number,
    private readonly volumeSize: number,
    private readonly metadata: ManifestMetadata,
  ) {}

  add(index: number, hash: Buffer): this {
    if (!Number.isSafeInteger(index) || index <= this.last) {
      throw new RangeError(`manifest entries must be added in increasing block order (got ${index} after ${this.last})`);
    }
    if (index * this.blockSize >= this.volumeSize) throw new RangeError(`block ${index} is beyond the volume's end`);
    if (hash.length !== 32) throw new RangeError(`block ${index}: a hash is 32 bytes, got ${hash.length}`);
    const run = this.runs[this.runs.length - 1];
    if (run && run.start + run.count === index) run.count++;
    else this.runs.push({ start: index, count: 1 });
    this.chunks.push(hash);
    this.last = index;
    return this;
  }

  build(): Manifest {
    return new Manifest(this.blockSize, this.volumeSize, this.metadata, this.runs, Buffer.concat(this.chunks));
  }
}
