import { objectNames } from '@island/blockstore';
import { RegionBlock } from '@island/catalog';

/** One block of the region: its object as Swift listed it (`listedBytes`), its catalog row, or both. */
export interface MergedBlock {
  hash: Buffer;
  listedBytes?: number;
  row?: RegionBlock;
}

/** The catalog's rows of the region in hash order within (after, upTo] (null: unbounded), at most `limit`. */
export type CatalogRange = (after: Buffer | null, upTo: Buffer | null, limit: number) => Promise<RegionBlock[]>;

/**
 * Swift's block objects of a region and the catalog's block rows, merged in hash order, a chunk of each at a time: a
 * block object's name is its hash in hex, so Swift lists them in the catalog's (bytea) order. Each chunk of the listing
 * is read before the catalog rows in its range, as fsck requires (an object listed had its row before it was written,
 * unless GC has deleted both since); the whole listing and every row were once held at the same time instead, which a
 * region of 100 M blocks cannot afford.
 */
export class BlocksInHashOrder {
  private readonly listing: AsyncIterator<{ name: string; bytes: number }>;
  private chunk: { hash: Buffer; bytes: number }[] = [];
  private listingDone = false;
  private started = false;

  constructor(
    objects: AsyncIterable<{ name: string; bytes: number }>,
    private readonly catalogRange: CatalogRange,
    private readonly chunkSize = 1000,
  ) {
    this.listing = objects[Symbol.asyncIterator]();
  }

  /** Reads the listing's first chunk: fsck lists Swift before it reads the catalog. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await this.readChunk();
  }

  async *blocks(): AsyncGenerator<MergedBlock> {
    await this.start();
    for (let lower: Buffer | null = null; ; await this.readChunk()) {
      const objects = this.chunk;
      const upper = this.listingDone ? null : objects[objects.length - 1].hash;
      let k = 0;
      for (let after = lower; ;) {
        const rows = await this.catalogRange(after, upper, this.chunkSize);
        for (const row of rows) {
          for (; k < objects.length && Buffer.compare(objects[k].hash, row.hash) < 0; k++) yield { hash: objects[k].hash, listedBytes: objects[k].bytes };
          if (k < objects.length && objects[k].hash.equals(row.hash)) yield { hash: row.hash, listedBytes: objects[k++].bytes, row };
          else yield { hash: row.hash, row };
        }
        if (rows.length < this.chunkSize) break;
        after = rows[rows.length - 1].hash;
      }
      for (; k < objects.length; k++) yield { hash: objects[k].hash, listedBytes: objects[k].bytes };
      if (this.listingDone) return;
      lower = upper;
    }
  }

  private async readChunk(): Promise<void> {
    this.chunk = [];
    while (this.chunk.length < this.chunkSize) {
      const next = await this.listing.next();
      if (next.done) {
        this.listingDone = true;
        return;
      }
      const hash = objectNames.blockHash(next.value.name);
      if (hash) this.chunk.push({ hash, bytes: next.value.bytes });
    }
  }
}
