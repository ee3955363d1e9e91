import { EntityManager } from 'typeorm';
import { LEDGER_STATUSES } from '../entities/snapshot.entity';
import { PresentBlock, PresentBlockRow, toPresentBlock } from './region-audit-queries';
import { sqlRows } from './sql-rows';

/** The region's blocks the catalog says Swift holds, in hash order after `after` (exclusive; null: from the first), a page at a time. */
export async function presentBlocksAfter(m: EntityManager, region: string, after: Buffer | null, limit: number): Promise<PresentBlock[]> {
  const rows = await sqlRows<PresentBlockRow>(
    m,
    `SELECT hash, stored_size, project_id, damaged_reason FROM block
      WHERE region = $1 AND state = 'present' AND ($2::bytea IS NULL OR hash > $2) ORDER BY hash LIMIT $3`,
    [region, after, limit],
  );
  return rows.map(toPresentBlock);
}

/** Blocks marked damaged that nobody has written again yet (`uploading`): a scrub tries to repair them first. */
export async function unrepairedDamagedBlocks(m: EntityManager, region: string): Promise<PresentBlock[]> {
  const rows = await sqlRows<PresentBlockRow>(
    m,
    `SELECT hash, stored_size, project_id, damaged_reason FROM block
      WHERE region = $1 AND damaged_reason IS NOT NULL AND state = 'uploading' ORDER BY hash`,
    [region],
  );
  return rows.map(toPresentBlock);
}

/** A volume whose point in time on its host still holds a block's bytes (its head content, at `blockIndex`). */
export interface BlockHolder {
  volumeId: string;
  host: string;
  imagePath: string;
  pointInTime: string;
  blockIndex: number;
  blockSize: number;
}

/**
 * Volumes of the project whose head content — what their point in time on the host equals — holds block `hash`: where
 * a block lost in every region can still be read. Scans block_version by hash (no index serves it): a repair's
 * question, asked once per lost block, not on any write path.
 */
export async function volumesHoldingBlock(m: EntityManager, projectId: string, hash: Buffer, limit: number): Promise<BlockHolder[]> {
  const rows = await sqlRows<{ id: string; host: string; image_path: string; point_in_time: string; block_index: string; block_size: number }>(
    m,
    `SELECT v.id, v.host, v.image_path, v.point_in_time, bv.block_index, v.block_size
       FROM block_version bv JOIN volume v ON v.id = bv.volume_id
      WHERE bv.hash = $2 AND bv.last_seq IS NULL AND v.project_id = $1 AND v.deleted_at IS NULL
        AND v.host IS NOT NULL AND v.image_path IS NOT NULL AND v.point_in_time IS NOT NULL
      ORDER BY v.id LIMIT $3`,
    [projectId, hash, limit],
  );
  return rows.map((r) => ({
    volumeId: r.id,
    host: r.host,
    imagePath: r.image_path,
    pointInTime: r.point_in_time,
    blockIndex: Number(r.block_index),
    blockSize: r.block_size,
  }));
}

/**
 * Marks a block lost in Swift: `uploading` again, so that the next snapshot holding the same bytes claims it as
 * absent and uploads it (a claim treats `uploading` as "upload"), with why. Only a block still `present` (or already
 * marked: its first reason stays, e.g. `corrupt` once its object was deleted): one GC is deleting, or has forgotten,
 * is no loss. Returns whether it was marked.
 */
export async function markBlockDamaged(m: EntityManager, region: string, hash: Buffer, reason: string): Promise<boolean> {
  const rows = await sqlRows<{ hash: Buffer }>(
    m,
    `UPDATE block SET state = 'uploading', damaged_reason = coalesce(damaged_reason, $3), damaged_at = coalesce(damaged_at, now())
      WHERE region = $1 AND hash = $2 AND (state = 'present' OR (state = 'uploading' AND damaged_reason IS NOT NULL))
      RETURNING hash`,
    [region, hash, reason],
  );
  return rows.length > 0;
}

/**
 * A damaged block found whole again (repaired from another region, written again by an upload, put back): `present`
 * with the size of its object, its mark cleared. Returns whether it was marked.
 */
export async function markBlockWhole(m: EntityManager, region: string, hash: Buffer, storedSize: number): Promise<boolean> {
  const rows = await sqlRows<{ hash: Buffer }>(
    m,
    `UPDATE block SET state = 'present', stored_size = $3, damaged_reason = NULL, damaged_at = NULL
      WHERE region = $1 AND hash = $2 AND damaged_reason IS NOT NULL AND state IN ('present', 'uploading')
      RETURNING hash`,
    [region, hash, storedSize],
  );
  return rows.length > 0;
}

export interface DamageRefresh {
  /** Blocks of the region marked damaged. */
  damagedBlocks: number;
  /** Live snapshots that need one of them (each marked, with the reason). */
  damagedSnapshots: number;
  /** Snapshots whose mark was cleared: every block they need is whole again (or they no longer exist). */
  cleared: number;
}

/**
 * Marks exactly the region's live snapshots that need a damaged block — those whose sequence number falls in the
 * interval of a block version naming it — and clears the mark of every other one. One statement: one state.
 */
export async function refreshSnapshotDamage(m: EntityManager, region: string): Promise<DamageRefresh> {
  const [row] = await sqlRows<DamageRefresh>(
    m,
    `WITH damaged AS MATERIALIZED (
            SELECT hash, damaged_reason FROM block WHERE region = $1 AND damaged_reason IS NOT NULL),
          needing AS MATERIALIZED (
            SELECT s.id, count(DISTINCT d.hash) AS n, min(d.damaged_reason) AS reason
              FROM damaged d
              JOIN block_version bv ON bv.hash = d.hash
              JOIN snapshot s ON s.volume_id = bv.volume_id AND s.seq >= bv.first_seq AND (bv.last_seq IS NULL OR s.seq < bv.last_seq)
             WHERE s.region = $1 AND s.status = ANY($2)
             GROUP BY s.id),
          reasons AS (
            SELECT id, CASE WHEN n = 1 THEN reason ELSE n || ' blocks lost, e.g. ' || reason END AS reason FROM needing),
          marked AS (
            UPDATE snapshot s SET damaged_reason = r.reason, damaged_at = coalesce(s.damaged_at, now())
              FROM reasons r WHERE s.id = r.id AND s.damaged_reason IS DISTINCT FROM r.reason
            RETURNING s.id),
          cleared AS (
            UPDATE snapshot SET damaged_reason = NULL, damaged_at = NULL
             WHERE region = $1 AND damaged_reason IS NOT NULL AND id NOT IN (SELECT id FROM needing)
            RETURNING id)
     SELECT (SELECT count(*) FROM damaged)::int AS "damagedBlocks",
            (SELECT count(*) FROM needing)::int AS "damagedSnapshots",
            (SELECT count(*) FROM cleared)::int AS cleared,
            (SELECT count(*) FROM marked)::int AS marked`,
    [region, LEDGER_STATUSES],
  );
  return { damagedBlocks: row.damagedBlocks, damagedSnapshots: row.damagedSnapshots, cleared: row.cleared };
}
