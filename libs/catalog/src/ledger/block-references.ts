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
