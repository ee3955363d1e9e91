import { EntityManager } from 'typeorm';
import { preparedRows, sqlRows } from '../ledger/sql-rows';
import { dropStagedChanges, stagedChanges, stageSnapshotChanges } from '../ledger/snapshot-changes';

/**
 * A snapshot's transfer in flight: the parts its upload was split into (or, for a region copy, the batches
 * its worker reported) and the block map staged for its commit. All of it is dropped when the snapshot
 * commits or fails.
 */
export class SnapshotUploadRepository {
  constructor(private readonly m: EntityManager) {}

  async hasParts(snapshotId: string): Promise<boolean> {
    const [row] = await sqlRows<{ n: string }>(this.m, `SELECT count(*) AS n FROM snapshot_part WHERE snapshot_id = $1`, [snapshotId]);
    return Number(row.n) > 0;
  }

  async queuePart(snapshotId: string, partIndex: number, blocks: readonly number[]): Promise<void> {
    await this.m.query(`INSERT INTO snapshot_part (snapshot_id, part_index, blocks, status) VALUES ($1, $2, $3, 'queued')`, [snapshotId, partIndex, blocks]);
  }

  /**
   * Marks a queued part done; returns the blocks it was given and how many parts are still queued after it, or null
   * when it was done already (a redelivery). One statement: its count sees the parts as they were before it, this one
   * still queued. Callers hold the snapshot's volume locked, so no other part completes meanwhile.
   */
  async completePart(snapshotId: string, partIndex: number): Promise<{ blocks: number[]; stillQueued: number } | null> {
    const [part] = await preparedRows<{ blocks: string[]; queued_before: string }>(
      this.m,
      'island_complete_part_v1',
      `WITH done AS (
         UPDATE snapshot_part SET status = 'done', done_at = now()
          WHERE snapshot_id = $1 AND part_index = $2 AND status = 'queued' RETURNING blocks)
       SELECT done.blocks, (SELECT count(*) FROM snapshot_part WHERE snapshot_id = $1 AND status = 'queued') AS queued_before FROM done`,
      [snapshotId, partIndex],
    );
    return part ? { blocks: part.blocks.map(Number), stillQueued: Number(part.queued_before) - 1 } : null;
  }

  /** Records a region copy's batch once; false when it was recorded already (a redelivered or resumed report). */
  async recordCopyBatch(snapshotId: string, batch: number): Promise<boolean> {
    const inserted = await sqlRows<{ part_index: number }>(
      this.m,
      `INSERT INTO snapshot_part (snapshot_id, part_index, blocks, status, done_at) VALUES ($1, $2, '{}', 'done', now())
       ON CONFLICT DO NOTHING RETURNING part_index`,
      [snapshotId, batch],
    );
    return inserted.length > 0;
  }

  async countDoneParts(snapshotId: string): Promise<number> {
    const [row] = await sqlRows<{ n: string }>(this.m, `SELECT count(*) AS n FROM snapshot_part WHERE snapshot_id = $1 AND status = 'done'`, [snapshotId]);
    return Number(row.n);
  }

  /** Stages batch `batch` of the block map: block `indexes[i]` = `hashes[i]` (null: a hole) for the commit; idempotent per batch. */
  stageChanges(snapshotId: string, batch: number, indexes: readonly number[], hashes: readonly (Buffer | null)[]): Promise<void> {
    return stageSnapshotChanges(this.m, snapshotId, batch, indexes, hashes);
  }

  /** Block entries staged (each batch holds distinct blocks, batches hold different ones). */
  async countStaged(snapshotId: string): Promise<number> {
    const [row] = await sqlRows<{ n: string }>(this.m, `SELECT coalesce(sum(cardinality(indexes)), 0) AS n FROM snapshot_change_batch WHERE snapshot_id = $1`, [
      snapshotId,
    ]);
    return Number(row.n);
  }

  /** Distinct blocks in a staged block map (a copy's, once its manifest was read). */
  async countStagedDistinct(snapshotId: string): Promise<number> {
    const [row] = await sqlRows<{ n: string }>(this.m, `SELECT count(DISTINCT c.hash) AS n FROM ${stagedChanges('$1')} c`, [snapshotId]);
    return Number(row.n);
  }

  async dropParts(snapshotId: string): Promise<void> {
    await this.m.query(`DELETE FROM snapshot_part WHERE snapshot_id = $1`, [snapshotId]);
  }

  dropStaged(snapshotId: string): Promise<void> {
    return dropStagedChanges(this.m, snapshotId);
  }
}
