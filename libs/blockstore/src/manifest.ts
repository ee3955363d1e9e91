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

  /** Bytes of guest data the block at `index` covers (the last block may be short). */
  blockLength(index: number): number {
    return Math.min(this.blockSize, this.volumeSize - index * this.blockSize);
  }

  /**
   * The distinct blocks, each with every index it fills and its length, in the order they first appear:
   * what a copy or a restore moves once however often a block repeats across the volume.
   */
  distinctBlocks(): { hash: Buffer; indexes: number[]; length: number }[] {
    const byHash = new Map<string, { hash: Buffer; indexes: number[]; length: number }>();
    for (const entry of this.entries()) {
      const key = entry.hash.toString('hex');
      const block = byHash.get(key);
      if (block) block.indexes.push(entry.index);
      else byHash.set(key, { hash: Buffer.from(entry.hash), indexes: [entry.index], length: this.blockLength(entry.index) });
    }
    return [...byHash.values()];
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
