import { EntityManager } from 'typeorm';
import { LedgerError } from './ledger-errors';
import { sqlRows } from './sql-rows';

/** Changes to one block's counters: references held by live versions, and claims of in-flight uploads. */
export interface BlockDelta {
  refcount: number;
  pending: number;
}

/** Accumulates counter changes per block hash, so each block row is updated once. */
export class BlockDeltas {
  private readonly deltas = new Map<string, { hash: Buffer; mustBePresent: boolean } & BlockDelta>();

  add(hash: Buffer, refcount: number, pending = 0, mustBePresent = false): void {
    const key = hash.toString('hex');
    const d = this.deltas.get(key) ?? { hash, refcount: 0, pending: 0, mustBePresent: false };
    d.refcount += refcount;
    d.pending += pending;
    d.mustBePresent ||= mustBePresent;
    this.deltas.set(key, d);
  }

  get size(): number {
    return this.deltas.size;
  }

  /**
   * Deltas sorted by hash: every writer locks block rows in this order, so none deadlock. Those that change nothing
   * are left out, but for blocks that must be present (checked as they are updated).
   */
  sorted(): ({ hash: Buffer; mustBePresent: boolean } & BlockDelta)[] {
    return [...this.deltas.values()].filter((d) => d.refcount !== 0 || d.pending !== 0 || d.mustBePresent).sort((a, b) => Buffer.compare(a.hash, b.hash));
  }
}

/**
 * Applies reference and claim deltas to block rows of a region. A block whose counters both reach zero
 * starts its grace window (zero_since); one that gains a reference or claim leaves it. Blocks added with
 * `mustBePresent` (those a commit's versions reference) must be in the object store: counted as they are
 * updated, so a commit neither sends its hashes once more to check them nor reads a row back per block.
 */
export async function applyBlockDeltas(m: EntityManager, region: string, deltas: BlockDeltas): Promise<void> {
  const rows = deltas.sorted();
  if (rows.length === 0) return;
  const hashes = rows.map((r) => r.hash);
  await m.query(`SELECT count(*) FROM (SELECT 1 FROM block WHERE region = $1 AND hash = ANY($2::bytea[]) ORDER BY hash FOR UPDATE) locked`, [region, hashes]);
  const [counted] = await sqlRows<{ updated: number; present: number }>(
    m,
    `WITH updated AS (
       UPDATE block b
          SET refcount = b.refcount + d.ref,
              pending = b.pending + d.pend,
              zero_since = CASE WHEN b.refcount + d.ref = 0 AND b.pending + d.pend = 0
                                THEN coalesce(b.zero_since, now()) ELSE NULL END
         FROM unnest($2::bytea[], $3::int[], $4::int[], $5::bool[]) AS d(hash, ref, pend, must)
        WHERE b.region = $1 AND b.hash = d.hash
    RETURNING d.must, b.state)
     SELECT count(*)::int AS updated, (count(*) FILTER (WHERE must AND state = 'present'))::int AS present FROM updated`,
    [region, hashes, rows.map((r) => r.refcount), rows.map((r) => r.pending), rows.map((r) => r.mustBePresent)],
  );
  const mustBePresent = rows.filter((r) => r.mustBePresent).length;
  if (counted.present < mustBePresent) {
    throw new LedgerError(`${mustBePresent - counted.present} block(s) the snapshot references are not present in region ${region}`);
  }
  if (counted.updated !== rows.length) {
    throw new LedgerError(`${rows.length - counted.updated} referenced block(s) are missing from the catalog of region ${region}`);
  }
}

/**
 * Applies counter changes the database computes: `deltas` is a query over `params` with a row per change — `hash`, `d`
 * (references), `p` (claims) and `must` (the block must be present in the object store) — summed per block. The block
 * rows are locked in hash order, as applyBlockDeltas locks them (so that no two writers deadlock), and checked (each
 * must have a row; those `must` names must be present) before they change. Nothing per block comes back to the
 * process: a snapshot or volume of 4 M blocks once came back as 4 M rows, past the heap of the process that asked.
 */
export async function applyDeltaRows(m: EntityManager, region: string, deltas: string, params: unknown[]): Promise<void> {
  const r = `$${params.length + 1}`;
  const perBlock = `SELECT hash, sum(d)::int AS ref, sum(p)::int AS pend, bool_or(must) AS must FROM (${deltas}) v GROUP BY hash`;
  const [locked] = await sqlRows<{ blocks: number; rows: number; must: number; present: number }>(
    m,
    `WITH c AS MATERIALIZED (${perBlock}),
          locked AS (SELECT b.hash, b.state FROM block b WHERE b.region = ${r} AND b.hash IN (SELECT hash FROM c) ORDER BY b.hash FOR UPDATE OF b)
     SELECT (SELECT count(*) FROM c)::int AS blocks,
            (SELECT count(*) FROM locked)::int AS rows,
            (SELECT count(*) FROM c WHERE must)::int AS must,
            (SELECT count(*) FROM locked l JOIN c USING (hash) WHERE c.must AND l.state = 'present')::int AS present`,
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
