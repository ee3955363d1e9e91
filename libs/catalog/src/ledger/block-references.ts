import { EntityManager } from 'typeorm';
import { LedgerError } from './ledger-errors';
import { sqlRows } from './sql-rows';

/**
 * Applies changes to block counters, computed by the database: `deltas` is a query over `params` with a row per change —
 * `hash`, `d` (references), `p` (claims) and `must` (the block must be present in the object store) — summed per block.
 * The block rows are locked in hash order (every writer of counters locks them so: none deadlock) and checked — each
 * must have a row, those `must` names must be present — before they change. A block whose counters both reach zero
 * starts its grace window (zero_since); one that gains a reference or claim leaves it. Nothing per block comes back to
 * the process: a snapshot or volume of 4 M blocks once came back as 4 M rows, past the heap of the process that asked.
 */
export async function applyDeltaRows(m: EntityManager, region: string, deltas: string, params: unknown[]): Promise<void> {
  const r = `$${params.length + 1}`;
  const perBlock = `SELECT hash, sum(d)::int AS ref, sum(p)::int AS pend, bool_or(must) AS must FROM (${deltas}) v GROUP BY hash`;
  // the locked rows carry `must` along: joined back to `c` to count the present ones, a materialized CTE the planner takes
  // for one row, they were compared with every block of the change (a delete of 2,000 blocks: 4 M comparisons, 130 ms)
  const [locked] = await sqlRows<{ blocks: number; rows: number; must: number; present: number }>(
    m,
    `WITH c AS MATERIALIZED (${perBlock}),
          locked AS (SELECT b.state, c.must FROM c JOIN block b ON b.region = ${r} AND b.hash = c.hash ORDER BY b.hash FOR UPDATE OF b)
     SELECT (SELECT count(*) FROM c)::int AS blocks,
            (SELECT count(*) FROM locked)::int AS rows,
            (SELECT count(*) FROM c WHERE must)::int AS must,
            (SELECT count(*) FROM locked WHERE must AND state = 'present')::int AS present`,
    [...params, region],
  );
  if (locked.present < locked.must) {
    throw new LedgerError(`${locked.must - locked.present} block(s) the snapshot references are not present in region ${region}`);
  }
  if (locked.rows !== locked.blocks) {
    throw new LedgerError(`${locked.blocks - locked.rows} referenced block(s) are missing from the catalog of region ${region}`);
  }
  await m.query(
    `UPDATE block b
        SET refcount = b.refcount + c.ref,
            pending = b.pending + c.pend,
            zero_since = CASE WHEN b.refcount + c.ref = 0 AND b.pending + c.pend = 0 THEN coalesce(b.zero_since, now()) ELSE NULL END
       FROM (${perBlock}) c
      WHERE b.region = ${r} AND b.hash = c.hash AND (c.ref <> 0 OR c.pend <> 0)`,
    [...params, region],
  );
}
