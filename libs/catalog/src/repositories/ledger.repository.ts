import { EntityManager } from 'typeorm';
import { sqlRows } from '../ledger/sql-rows';
import { ClaimRequest, ClaimResult, claimBlocks, markBlocksPresent, releaseClaims } from '../ledger/block-claims';
import {
  commitCopyVersions,
  commitSnapshotVersions,
  LedgerResult,
  LedgerSnapshot,
  removeSnapshotVersions,
  removeVolumeVersions,
  revertVolumeVersions,
  seedVolumeFromSnapshot,
} from '../ledger/snapshot-ledger';
import { changedBlockIndexes, SnapshotBlockLookup, snapshotBlockAt } from '../ledger/snapshot-contents';

/**
 * The block ledger as one transaction sees it: which block versions each volume and snapshot references,
 * and the claims in-flight uploads hold. The functions behind it (libs/catalog/src/ledger) are the ledger's
 * rules; this is the handle request services and state machines use.
 */
export class LedgerRepository {
  constructor(private readonly m: EntityManager) {}

  /** A snapshot whose blocks are all in Swift enters the ledger (its staged block map becomes versions). */
  commit(snapshot: LedgerSnapshot & { copyOf: string | null }): Promise<LedgerResult> {
    return snapshot.copyOf ? commitCopyVersions(this.m, snapshot) : commitSnapshotVersions(this.m, snapshot);
  }

  removeSnapshot(snapshot: LedgerSnapshot): Promise<LedgerResult> {
    return removeSnapshotVersions(this.m, snapshot);
  }

  /** A new volume's head is the snapshot's content. */
  seedVolume(volumeId: string, source: LedgerSnapshot): Promise<LedgerResult> {
    return seedVolumeFromSnapshot(this.m, volumeId, source);
  }

  /** The volume's head becomes the target snapshot's content, at sequence number `seq`. */
  revertVolume(target: LedgerSnapshot, seq: number): Promise<LedgerResult> {
    return revertVolumeVersions(this.m, target, seq);
  }

  removeVolume(volumeId: string, region: string): Promise<LedgerResult> {
    return removeVolumeVersions(this.m, volumeId, region);
  }

  /** Blocks of the volume's head content that are not holes: what restoring it writes. */
  async headBlockCount(volumeId: string): Promise<number> {
    const [row] = await sqlRows<{ n: string }>(this.m, `SELECT count(*) AS n FROM block_version WHERE volume_id = $1 AND last_seq IS NULL`, [volumeId]);
    return Number(row.n);
  }

  /** A snapshot with the name of its block `index` (null: a hole), in one statement. */
  snapshotBlockAt(snapshotId: string, index: number): Promise<SnapshotBlockLookup | null> {
    return snapshotBlockAt(this.m, snapshotId, index);
  }

  /** Block indexes after `after` whose content differs between two seqs of a volume (`fromSeq` null: from empty). */
  changedBlocks(volumeId: string, fromSeq: number | null, toSeq: number, after: number, limit: number): Promise<number[]> {
    return changedBlockIndexes(this.m, volumeId, fromSeq, toSeq, after, limit);
  }

  /** One statement (claimBlocks): on a handle outside a transaction it is one round trip. */
  claim(snapshotId: string, region: string, blocks: ClaimRequest[]): Promise<ClaimResult> {
    return claimBlocks(this.m, snapshotId, region, blocks);
  }

  /** One statement, atomic on its own: needs no transaction. */
  markPresent(region: string, blocks: { hash: Buffer; storedSize: number }[]): Promise<void> {
    return markBlocksPresent(this.m, region, blocks);
  }

  releaseClaims(snapshotId: string, region: string): Promise<number> {
    return releaseClaims(this.m, snapshotId, region);
  }
}
