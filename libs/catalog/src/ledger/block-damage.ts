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
