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
  private readonly deltas = new Map<string, { hash: Buffer } & BlockDelta>();

  add(hash: Buffer, refcount: number, pending = 0): void {
    const key = hash.toString('hex');
    const d = this.deltas.get(key) ?? { hash, refcount: 0, pending: 0 };
    d.refcount += refcount;
    d.pending += pending;
    this.deltas.set(key, d);
  }

  get size(): number {
    return this.deltas.size;
  }

  /** Non-zero deltas sorted by hash: every writer locks block rows in this order, so none deadlock. */
  sorted(): ({ hash: Buffer } & BlockDelta)[] {
    return [...this.deltas.values()].filter((d) => d.refcount !== 0 || d.pending !== 0).sort((a, b) => Buffer.compare(a.hash, b.hash));
  }
}

/**
 * Applies reference and claim deltas to block rows of a region. A block whose counters both reach zero
 * starts its grace window (zero_since); one that gains a reference or claim leaves it.
 */
export async function applyBlockDeltas(m: EntityManager, region: string, deltas: BlockDeltas): Promise<void> {
  const rows = deltas.sorted();
  if (rows.length === 0) return;
  const hashes = rows.map((r) => r.hash);
  await m.query(`SELECT 1 FROM block WHERE region = $1 AND hash = ANY($2::bytea[]) ORDER BY hash FOR UPDATE`, [region, hashes]);
  const updated = await sqlRows(
    m,
    `UPDATE block b
        SET refcount = b.refcount + d.ref,
            pending = b.pending + d.pend,
            zero_since = CASE WHEN b.refcount + d.ref = 0 AND b.pending + d.pend = 0
                              THEN coalesce(b.zero_since, now()) ELSE NULL END
       FROM unnest($2::bytea[], $3::int[], $4::int[]) AS d(hash, ref, pend)
      WHERE b.region = $1 AND b.hash = d.hash
  RETURNING b.hash`,
    [region, hashes, rows.map((r) => r.refcount), rows.map((r) => r.pending)],
  );
  if (updated.length !== rows.length) {
    throw new LedgerError(`${rows.length - updated.length} referenced block(s) are missing from the catalog of region ${region}`);
  }
}
