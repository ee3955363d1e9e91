import { EntityManager } from 'typeorm';
import { liveLease } from './gc-lease';
import { sqlRows } from './sql-rows';

export interface ReferenceDiscrepancy {
  hash: Buffer;
  /** Null: the block is referenced or claimed but has no row in the catalog. */
  state: string | null;
  refcount: number;
  pending: number;
  expectedRefcount: number;
  expectedPending: number;
}

/** Every block of the region with what its counters must be: one reference per live version, one claim per claim row. */
const EXPECTED = `
  WITH refs AS (SELECT v.hash, count(*)::int AS n FROM block_version v JOIN volume vol ON vol.id = v.volume_id
                 WHERE vol.region = $1 GROUP BY v.hash),
       claims AS (SELECT hash, count(*)::int AS n FROM block_claim WHERE region = $1 GROUP BY hash),
       hashes AS (SELECT hash FROM block WHERE region = $1 UNION SELECT hash FROM refs UNION SELECT hash FROM claims)
  SELECT h.hash, b.state, coalesce(b.refcount, 0) AS refcount, coalesce(b.pending, 0) AS pending,
         coalesce(r.n, 0) AS expected_refcount, coalesce(c.n, 0) AS expected_pending
    FROM hashes h
    LEFT JOIN block b ON b.region = $1 AND b.hash = h.hash
    LEFT JOIN refs r ON r.hash = h.hash
    LEFT JOIN claims c ON c.hash = h.hash`;

const WRONG = `b.hash IS NULL OR b.refcount <> coalesce(r.n, 0) OR b.pending <> coalesce(c.n, 0)
               OR (coalesce(r.n, 0) > 0 AND b.state <> 'present')`;

/**
 * Recomputes every reference count of a region from the block versions (and every claim count from the
 * claims) and returns the blocks whose catalog counters or state disagree. One statement sees one
 * committed state, and every ledger writer changes versions and counters in one transaction, so an
 * operation in flight is never mistaken for damage.
 */
export async function referenceDiscrepancies(m: EntityManager, region: string): Promise<ReferenceDiscrepancy[]> {
  const rows = await sqlRows<{
    hash: Buffer;
    state: string | null;
    refcount: number;
    pending: number;
    expected_refcount: number;
    expected_pending: number;
  }>(m, `${EXPECTED} WHERE ${WRONG} ORDER BY h.hash`, [region]);
  return rows.map((r) => ({
    hash: r.hash,
    state: r.state,
    refcount: r.refcount,
    pending: r.pending,
    expectedRefcount: r.expected_refcount,
    expectedPending: r.expected_pending,
  }));
}

/**
 * Sets the counters of the given blocks to their recomputed values (the grace window starts when they reach
 * zero). Run it in a REPEATABLE READ transaction: a block a ledger writer changed since the recomputation
 * then fails the transaction (serialization failure) instead of receiving stale counts; retry it.
 */
export async function repairReferenceCounts(m: EntityManager, region: string, hashes: Buffer[]): Promise<number> {
  if (hashes.length === 0) return 0;
  const rows = await sqlRows(
    m,
    `WITH expected AS (${EXPECTED})
     UPDATE block b SET refcount = e.expected_refcount, pending = e.expected_pending,
            zero_since = CASE WHEN e.expected_refcount = 0 AND e.expected_pending = 0 THEN coalesce(b.zero_since, now()) ELSE NULL END
       FROM expected e
      WHERE b.region = $1 AND b.hash = e.hash AND b.hash = ANY($2::bytea[])
  RETURNING b.hash`,
    [region, hashes],
  );
  return rows.length;
}

/**
 * Takes Swift objects the catalog knows nothing about into GC's hands: each gets a block row already marked
 * `deleting` under the live GC lease `token`, so an upload of the same content waits until GC deleted and forgot it.
 * Returns the hashes adopted; one that gained a row meanwhile is no orphan and is left alone.
 */
export async function adoptOrphanBlocks(m: EntityManager, region: string, hashes: Buffer[], token: string): Promise<Buffer[]> {
  if (hashes.length === 0) return [];
  const rows = await sqlRows<{ hash: Buffer }>(
    m,
    `INSERT INTO block (region, hash, size, state, deleting_since, deleting_by)
     SELECT $1, h, 0, 'deleting', now(), $3 FROM unnest($2::bytea[]) AS h WHERE ${liveLease('$3')}
     ON CONFLICT (region, hash) DO NOTHING
  RETURNING hash`,
    [region, hashes, token],
  );
  return rows.map((r) => r.hash);
}
