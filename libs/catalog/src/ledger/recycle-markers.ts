import { EntityManager } from 'typeorm';
import { sqlRows } from './sql-rows';

/**
 * The recycle bin's copy in Swift. The bin itself is a snapshot status in the catalog (the API has no Swift); GC
 * keeps one empty marker object per recycled snapshot in the snapshot's region, named for the snapshot and the time
 * its retention ends, so that a catalog rebuild from Swift alone knows which manifests were in the bin and until when.
 * Written and parsed only here: the SQL below composes the same name MARKER_NAME reads.
 */
export const RECYCLE_MARKER_PREFIX = 'recycle-bin/';
const MARKER_NAME = /^recycle-bin\/([0-9a-f-]{36})\/(\d{1,12})$/;
const DESIRED = `CASE WHEN s.status = 'recycled' THEN 'recycle-bin/' || s.id || '/' || floor(extract(epoch FROM s.purge_after))::bigint END`;

/** A snapshot whose marker in Swift is not what its row says it should be. */
export interface StaleRecycleMarker {
  snapshotId: string;
  /** The marker in Swift now (null: none). */
  current: string | null;
  /** The marker it should have (null: none — it left the bin, by undelete or purge). */
  desired: string | null;
}

/** A marker found in Swift: the snapshot it keeps in the bin, and when its retention ends. */
export interface RecycleMarker {
  snapshotId: string;
  purgeAfter: Date;
}

export function parseRecycleMarker(name: string): RecycleMarker | undefined {
  const match = MARKER_NAME.exec(name);
  return match ? { snapshotId: match[1], purgeAfter: new Date(Number(match[2]) * 1000) } : undefined;
}

/** Up to `limit` snapshots of a region whose marker must be written, replaced or removed, after `afterId`. */
export async function staleRecycleMarkers(m: EntityManager, region: string, afterId: string | null, limit: number): Promise<StaleRecycleMarker[]> {
  const rows = await sqlRows<{ id: string; current: string | null; desired: string | null }>(
    m,
    `SELECT s.id, s.recycle_marker AS current, ${DESIRED} AS desired
       FROM snapshot s
      WHERE s.region = $1 AND (s.status = 'recycled' OR s.recycle_marker IS NOT NULL) AND ($2::uuid IS NULL OR s.id > $2)
        AND s.recycle_marker IS DISTINCT FROM ${DESIRED}
      ORDER BY s.id LIMIT $3`,
    [region, afterId, limit],
  );
  return rows.map((r) => ({ snapshotId: r.id, current: r.current, desired: r.desired }));
}

/**
 * After `marker` was written to Swift (or, null, the old one removed): the row names it, unless another pass moved
 * it on meanwhile. A snapshot that left or re-entered the bin since is seen stale again by the next pass.
 */
export async function recordRecycleMarker(m: EntityManager, snapshotId: string, previous: string | null, marker: string | null): Promise<void> {
  await m.query(`UPDATE snapshot SET recycle_marker = $3 WHERE id = $1 AND recycle_marker IS NOT DISTINCT FROM $2`, [snapshotId, previous, marker]);
}
