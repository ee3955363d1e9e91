import { EntityManager } from 'typeorm';
import { preparedRows } from './sql-rows';

/** Rows staged per statement: large block maps go in slices that keep each statement's arrays small. */
const ROWS_PER_STATEMENT = 50_000;

/**
 * Stages a snapshot's block map before its commit: block `indexes[i]` holds content `hashes[i]` (null: the
 * block became a hole). Idempotent: rows staged already are kept, so a redelivered report or a resumed copy
 * stages only what is missing.
 */
export async function stageSnapshotChanges(
  m: EntityManager,
  snapshotId: string,
  indexes: readonly number[],
  hashes: readonly (Buffer | null)[],
): Promise<void> {
  if (indexes.length !== hashes.length) throw new Error(`staging ${indexes.length} block indexes with ${hashes.length} hashes`);
  for (let at = 0; at < indexes.length; at += ROWS_PER_STATEMENT) {
    await preparedRows(
      m,
      'island_stage_changes_v1',
      `INSERT INTO snapshot_change (snapshot_id, block_index, hash)
       SELECT $1, i, h FROM unnest($2::bigint[], $3::bytea[]) AS t(i, h) ON CONFLICT DO NOTHING`,
      [snapshotId, indexes.slice(at, at + ROWS_PER_STATEMENT), hashes.slice(at, at + ROWS_PER_STATEMENT)],
    );
  }
}
