import { EntityManager } from 'typeorm';
import { SnapshotStatus } from '../entities/snapshot.entity';
import { sqlRows } from './sql-rows';

/**
 * What a snapshot's blocks are, read from the block versions alone (no manifest, no Swift): the name of one block, and
 * the blocks whose content differs between two points of a volume. A point is (volume, seq): the versions with
 * first_seq ≤ seq < last_seq are its content; an index without one is a hole.
 */

/** A snapshot as a block read needs it, with its project key's state and the name of one of its blocks. */
export interface SnapshotBlockLookup {
  snapshotId: string;
  projectId: string;
  status: SnapshotStatus;
  region: string;
  sizeBytes: number;
  blockSize: number;
  /** When its project's key was shredded (nothing of it can be read any more), else null. */
  keyShreddedAt: Date | null;
  /** The block's name at the snapshot's point, or null for a hole (or an index past its end). */
  name: Buffer | null;
}

/**
 * Snapshot `snapshotId` and the name of its block `index`, in one statement (one consistent view, one round trip:
 * a block read asks this once per megabyte it serves); null when there is no such snapshot.
 */
export async function snapshotBlockAt(m: EntityManager, snapshotId: string, index: number): Promise<SnapshotBlockLookup | null> {
  const [row] = await sqlRows<{
    project_id: string;
    status: SnapshotStatus;
    region: string;
    size_bytes: string;
    block_size: number;
    shredded_at: Date | null;
    hash: Buffer | null;
  }>(
    m,
    `SELECT s.project_id, s.status, s.region, s.size_bytes, s.block_size, k.shredded_at, v.hash
       FROM snapshot s
       LEFT JOIN project_key k ON k.project_id = s.project_id
       LEFT JOIN LATERAL (
         SELECT bv.hash FROM block_version bv
          WHERE bv.volume_id = s.volume_id AND bv.block_index = $2 AND bv.first_seq <= s.seq AND (bv.last_seq IS NULL OR bv.last_seq > s.seq)
       ) v ON true
      WHERE s.id = $1`,
    [snapshotId, index],
  );
  if (!row) return null;
  return {
    snapshotId,
    projectId: row.project_id,
    status: row.status,
    region: row.region,
    sizeBytes: Number(row.size_bytes),
    blockSize: row.block_size,
    keyShreddedAt: row.shredded_at,
    name: row.hash,
  };
}

/**
 * Up to `limit` block indexes greater than `after`, ascending, whose content at `toSeq` differs from that at `fromSeq`
 * (null: from an empty volume, so every block that is not a hole at `toSeq`). A block whose content differs has a
 * version that starts or ends in (fromSeq, toSeq] — the one seen at `toSeq` started after `fromSeq`, or the one seen
 * at `fromSeq` ended by `toSeq` — so only those are candidates (found through `block_version_first` and
 * `block_version_last`): the cost follows what changed, not the volume's size. A block written again with the same
 * content (same name) is not changed. Both points must be seen by live snapshots: versions no live snapshot sees are
 * dropped.
 */
export async function changedBlockIndexes(
  m: EntityManager,
  volumeId: string,
  fromSeq: number | null,
  toSeq: number,
  after: number,
  limit: number,
): Promise<number[]> {
  if (fromSeq === null) {
    const rows = await sqlRows<{ block_index: string }>(
      m,
      `SELECT block_index FROM block_version
        WHERE volume_id = $1 AND block_index > $3 AND first_seq <= $2 AND (last_seq IS NULL OR last_seq > $2)
        ORDER BY block_index LIMIT $4`,
      [volumeId, toSeq, after, limit],
    );
    return rows.map((r) => Number(r.block_index));
  }
  // past ~10k changes the planner's estimate crosses jit_above_cost, and compiling takes longer than the query runs
  if (m.queryRunner?.isTransactionActive) await m.query(`SET LOCAL jit = off`);
  const rows = await sqlRows<{ block_index: string }>(m, CHANGED_BETWEEN, [volumeId, fromSeq, toSeq, after, limit]);
  return rows.map((r) => Number(r.block_index));
}

/** $1 volume, $2 from seq, $3 to seq, $4 after index, $5 limit (the statement the bench explains). */
export const CHANGED_BETWEEN = `
  WITH candidate AS (
    SELECT block_index FROM block_version
     WHERE volume_id = $1 AND first_seq > $2 AND first_seq <= $3 AND block_index > $4
    UNION
    SELECT block_index FROM block_version
     WHERE volume_id = $1 AND last_seq IS NOT NULL AND last_seq > $2 AND last_seq <= $3 AND block_index > $4
  )
  SELECT c.block_index FROM candidate c
   WHERE (SELECT f.hash FROM block_version f
           WHERE f.volume_id = $1 AND f.block_index = c.block_index AND f.first_seq <= $2 AND (f.last_seq IS NULL OR f.last_seq > $2))
         IS DISTINCT FROM
         (SELECT t.hash FROM block_version t
           WHERE t.volume_id = $1 AND t.block_index = c.block_index AND t.first_seq <= $3 AND (t.last_seq IS NULL OR t.last_seq > $3))
   ORDER BY c.block_index
   LIMIT $5`;
