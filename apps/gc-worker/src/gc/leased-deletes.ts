import { SwiftBlockStore } from '@island/blockstore';
import { GcLease } from '@island/catalog';
import { forEachBounded } from '@island/platform';

const DELETE_CONCURRENCY = 16;

export interface LeasedDeletes {
  /** Gone from Swift (or never there). */
  deleted: Buffer[];
  /** Of `deleted`: Swift kept a copy written after it stamped the delete (an orphan now, for fsck). */
  newerKept: number;
  /** Never sent: the lease had ended. */
  unsent: Buffer[];
  /** Sent, then failed or abandoned at the lease's end: they may or may not be gone. */
  uncertain: Buffer[];
  firstError?: Error;
}

/**
 * Sends the Swift deletes of blocks marked under `lease`, one request per block, each listening to the lease's
 * signal: no delete is sent, or retried, once the lease may have ended, and one in flight then is abandoned.
 * Swift stamps each delete when it receives it, so the last one this lease sends is stamped before its takeover
 * (ARCHITECTURE.md, "Fencing"). Returns once every request it sent has settled.
 */
export async function deleteWhileLeased(store: SwiftBlockStore, lease: GcLease, hashes: Buffer[]): Promise<LeasedDeletes> {
  const result: LeasedDeletes = { deleted: [], newerKept: 0, unsent: [], uncertain: [] };
  await forEachBounded(hashes, DELETE_CONCURRENCY, async (hash) => {
    if (lease.ended) {
      result.unsent.push(hash);
      return;
    }
    try {
      if ((await store.deleteBlock(hash, lease.signal)) === 'newer-kept') result.newerKept++;
      result.deleted.push(hash);
    } catch (error) {
      result.uncertain.push(hash);
      result.firstError ??= error as Error;
    }
  });
  return result;
}
