import { EntityManager } from 'typeorm';
import { CollectableBlock } from './block-collection';
import { GC_LEASE, GC_LEASE_LOCK_CLASS, liveLease } from './gc-lease';
import { sqlRows } from './sql-rows';

const MARGIN_SECONDS = GC_LEASE.takeoverMarginMs / 1000;
const STALLED_SECONDS = GC_LEASE.stalledTakeoverMs / 1000;

/**
 * Leases whose marks another run may take over: ended `takeoverMarginMs` ago with their holder's session gone (its
 * advisory lock is free: the holder died, or lost the catalog and stopped renewing), or ended `stalledTakeoverMs` ago
 * whatever the session (a holder stalled that long). The lock is tried only for leases past the margin, and held by
 * the taker's transaction until it commits.
 */
const ENDED_LEASES = `
  SELECT token FROM gc_lease
   WHERE CASE WHEN lease_until <= now() - make_interval(secs => ${STALLED_SECONDS}) THEN true
              WHEN lease_until <= now() - make_interval(secs => ${MARGIN_SECONDS}) THEN pg_try_advisory_xact_lock(${GC_LEASE_LOCK_CLASS}, id)
              ELSE false END`;

/** Marks of an ended lease, and marks older than `stalledTakeoverMs` that no lease holds (made before leases existed). */
const ABANDONED = `state = 'deleting'
  AND (deleting_by IN (${ENDED_LEASES})
       OR (deleting_since <= now() - make_interval(secs => ${STALLED_SECONDS}) AND NOT EXISTS (SELECT 1 FROM gc_lease l WHERE l.token = block.deleting_by)))`;

/**
 * Takes over up to `limit` marks another run abandoned (it died or stalled between marking and forgetting) under the
 * live lease `token`: from then on, only this run may delete and forget them. The old holder sent its last request
 * before its lease ended, and the takeover waits longer than such a request takes to reach Swift.
 */
export async function takeOverAbandonedMarks(m: EntityManager, region: string, limit: number, token: string): Promise<CollectableBlock[]> {
  const rows = await sqlRows<{ hash: Buffer; stored_size: number }>(
    m,
    `UPDATE block b SET deleting_since = now(), deleting_by = $3
      WHERE (b.region, b.hash) IN (SELECT region, hash FROM block WHERE region = $1 AND ${ABANDONED} LIMIT $2 FOR UPDATE SKIP LOCKED)
        AND ${liveLease('$3')}
  RETURNING b.hash, b.stored_size`,
    [region, limit, token],
  );
  return rows.map((r) => ({ hash: r.hash, storedSize: r.stored_size }));
}

/** Whether a region has marks a run may take over now. */
export async function hasAbandonedMarks(m: EntityManager, region: string): Promise<boolean> {
  const [row] = await sqlRows<{ found: boolean }>(m, `SELECT EXISTS (SELECT 1 FROM block WHERE region = $1 AND ${ABANDONED}) AS found`, [region]);
  return row.found;
}

/** Drops the rows of leases that ended past the takeover margin and hold no marks (their runs died or stalled). */
export async function forgetEndedLeases(m: EntityManager): Promise<number> {
  const rows = await sqlRows(
    m,
    `DELETE FROM gc_lease l
      WHERE l.lease_until <= now() - make_interval(secs => ${MARGIN_SECONDS})
        AND NOT EXISTS (SELECT 1 FROM block b WHERE b.state = 'deleting' AND b.deleting_by = l.token)
  RETURNING l.id`,
  );
  return rows.length;
}
