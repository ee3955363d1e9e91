import { blockLength, ManifestReader } from '@island/blockstore';
import { BlockRanges } from './block-ranges';

export interface EntryToFetch {
  /** The entry's position among the manifest's entries (what the progress record counts). */
  ordinal: number;
  index: number;
  hash: Buffer;
}

/** What a restore still has to fetch, read from the manifest as the fetchers ask for it. */
export class RestorePlan {
  /** Guest bytes the whole manifest covers: complete once `toFetch()` has run to its end. */
  guestBytes = 0;

  constructor(
    private readonly manifest: ManifestReader,
    /** Ordinals already in the partial image. */
    private readonly written: BlockRanges,
  ) {}

  /** The entries not yet written, in block order. */
  async *toFetch(): AsyncGenerator<EntryToFetch> {
    const { header } = this.manifest;
    let ordinal = 0;
    for await (const batch of this.manifest.batches()) {
      for (const { index, hash } of batch) {
        this.guestBytes += blockLength(header, index);
        if (!this.written.has(ordinal)) yield { ordinal, index, hash };
        ordinal++;
      }
    }
  }
}
