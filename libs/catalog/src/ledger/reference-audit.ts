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

/**
 * Every block of the region with what its counters must be: one reference per live version, one claim per claim row.
 * Full joins, so each table is read once and joined by hash (no union of all hashes to sort): the audit is a full
 * scan whose cost should grow with the catalog and no faster (docs/scaling.md).
 */
const EXPECTED = `
  WITH refs AS (SELECT v.hash, count(*)::int AS n FROM block_version v JOIN volume vol ON vol.id = v.volume_id
                 WHERE vol.region = $1 GROUP BY v.hash),
       claims AS (SELECT hash, count(*)::int AS n FROM block_claim WHERE region = $1 GROUP BY hash),
       counted AS (SELECT coalesce(r.hash, c.hash) AS hash, coalesce(r.n, 0) AS refs, coalesce(c.n, 0) AS claims
                     FROM refs r FULL JOIN claims c ON c.hash = r.hash),
       blocks AS (SELECT hash, state, refcount, pending FROM block WHERE region = $1)
  SELECT coalesce(b.hash, e.hash) AS hash, b.state, coalesce(b.refcount, 0) AS refcount, coalesce(b.pending, 0) AS pending,
         coalesce(e.refs, 0) AS expected_refcount, coalesce(e.claims, 0) AS expected_pending
    FROM blocks b FULL JOIN counted e ON e.hash = b.hash`;

/**
 * Memory each of the audit's aggregates and joins may use before spilling to disk (PostgreSQL gives hash nodes twice
 * this). The server's default (4 MB) spilled the 100 M-version audit in thousands of batches (docs/scaling.md); fsck
 * runs rarely and alone, so its one statement may take what a server with room for the block table has to spare.
 */
export const AUDIT_WORK_MEM = '256MB';

/** For the rest of the caller's transaction (outside one PostgreSQL ignores it with a warning). */
const giveAuditMemory = (m: EntityManager) => m.query(`SET LOCAL work_mem = '${AUDIT_WORK_MEM}'`);

const WRONG = `b.hash IS NULL OR b.refcount <> coalesce(e.refs, 0) OR b.pending <> coalesce(e.claims, 0)
               OR (coalesce(e.refs, 0) > 0 AND b.state <> 'present')`;

/**
 * Recomputes every reference count of a region from the block versions (and every claim count from the
 * claims) and returns the blocks whose catalog counters or state disagree. One statement sees one
 * committed state, and every ledger writer changes versions and counters in one transaction, so an
 * operation in flight is never mistaken for damage.
 */
export async function referenceDiscrepancies(m: EntityManager, region: string): Promise<ReferenceDiscrepancy[]> {
  const rows = await m.transaction(async (t) => {
    await giveAuditMemory(t);
    return sqlRows<{
      hash: Buffer;
      state: string | null;
      refcount: number;
      pending: number;
      expected_refcount: number;
      expected_pending: number;
    }>(t, `${EXPECTED} WHERE ${WRONG} ORDER BY 1`, [region]);
  });
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
 * zero); the recomputation is the audit's, with its memory for the rest of the transaction. Run it in a REPEATABLE
 * READ transaction: a block a ledger writer changed since the recomputation then fails the transaction (serialization
 * failure) instead of receiving stale counts; retry it.
 */
export async function repairReferenceCounts(m: EntityManager, region: string, hashes: Buffer[]): Promise<number> {
  if (hashes.length === 0) return 0;
  await giveAuditMemory(m);
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
