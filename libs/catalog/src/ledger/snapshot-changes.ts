import { EntityManager } from 'typeorm';
import { preparedRows } from './sql-rows';

/** Block entries in one staged batch: a larger block map (a rebuilt snapshot's whole change) is staged in several. */
export const MAX_STAGED_BATCH_ENTRIES = 65_536;

/**
 * Stages one batch of a snapshot's block map for its commit: block `indexes[i]` holds content `hashes[i]` (null: the
 * block became a hole). `batch` is the stager's own number for it (an upload's part, a copied manifest's page), and a
 * batch staged already is kept as it was: a redelivered report or a resumed copy stores nothing twice. The batches of
 * one snapshot hold distinct block indexes; the commit reads them as one map.
 */
export async function stageSnapshotChanges(
  m: EntityManager,
  snapshotId: string,
  batch: number,
  indexes: readonly number[],
  hashes: readonly (Buffer | null)[],
): Promise<void> {
  if (indexes.length !== hashes.length) throw new Error(`staging ${indexes.length} block indexes with ${hashes.length} hashes`);
  if (indexes.length > MAX_STAGED_BATCH_ENTRIES) throw new Error(`staging ${indexes.length} block entries in one batch (at most ${MAX_STAGED_BATCH_ENTRIES})`);
  if (indexes.length === 0) return;
  await preparedRows(
    m,
    'island_stage_change_batch_v1',
    `INSERT INTO snapshot_change_batch (snapshot_id, batch, indexes, hashes) VALUES ($1, $2, $3::bigint[], $4::bytea[]) ON CONFLICT DO NOTHING`,
    [snapshotId, batch, indexes, hashes],
  );
}

/**
 * Stages a block map the database already holds (a rebuilt snapshot's change): the rows (block_index, hash) that
 * `changesSql` selects, as consecutive batches 0, 1, … of at most MAX_STAGED_BATCH_ENTRIES in block order.
 */
export async function stageBlockMapFrom(m: EntityManager, snapshotId: string, changesSql: string): Promise<void> {
  await m.query(
    `INSERT INTO snapshot_change_batch (snapshot_id, batch, indexes, hashes)
     SELECT $1, n / $2, array_agg(block_index ORDER BY block_index), array_agg(hash ORDER BY block_index)
       FROM (SELECT c.block_index, c.hash, row_number() OVER (ORDER BY c.block_index) - 1 AS n FROM (${changesSql}) c) numbered
      GROUP BY n / $2
     ON CONFLICT DO NOTHING`,
    [snapshotId, MAX_STAGED_BATCH_ENTRIES],
  );
}

/** Drops a snapshot's staged block map: its commit consumed it, or it failed. */
export async function dropStagedChanges(m: EntityManager, snapshotId: string): Promise<void> {
  await preparedRows(m, 'island_drop_staged_batches_v1', `DELETE FROM snapshot_change_batch WHERE snapshot_id = $1`, [snapshotId]);
}

/**
 * The staged block map of snapshot `$<param>` as rows (block_index, hash), for use in a FROM clause: each batch's arrays
 * unnested side by side.
 */
export function stagedChanges(param: string): string {
  return `(SELECT c.block_index, c.hash FROM snapshot_change_batch b, unnest(b.indexes, b.hashes) AS c(block_index, hash)
            WHERE b.snapshot_id = ${param})`;
}
