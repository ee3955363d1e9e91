import { EntityManager } from 'typeorm';
import { liveLease } from './gc-lease';
import { sqlRows } from './sql-rows';

export interface CollectableBlock {
  hash: Buffer;
  storedSize: number;
}

/**
 * Marks up to `limit` blocks of a region `deleting` under the live GC lease `token` (gc-lease.ts): no reference, no
 * upload claim, and out of references for longer than the grace window. The test and the mark are one UPDATE of
 * each block row, taken with SKIP LOCKED: a row a worker is claiming is skipped, and a row claimed just
 * before is re-checked against its new `pending` count. Several GC replicas mark disjoint sets.
 */
export async function markBlocksForDeletion(m: EntityManager, region: string, graceSeconds: number, limit: number, token: string): Promise<CollectableBlock[]> {
  const rows = await sqlRows<{ hash: Buffer; stored_size: number }>(
    m,
    `UPDATE block b SET state = 'deleting', deleting_since = now(), deleting_by = $4
      WHERE (b.region, b.hash) IN (
              SELECT region, hash FROM block
               WHERE region = $1 AND ${UNREFERENCED}
                 AND zero_since <= now() - make_interval(secs => $2)
               ORDER BY zero_since LIMIT $3
                 FOR UPDATE SKIP LOCKED)
        AND b.refcount = 0 AND b.pending = 0
        AND ${liveLease('$4')}
  RETURNING b.hash, b.stored_size`,
    [region, graceSeconds, limit, token],
  );
  return rows.map((r) => ({ hash: r.hash, storedSize: r.stored_size }));
}

/** Blocks without a reference or an upload claim that GC has not taken yet. */
const UNREFERENCED = `refcount = 0 AND pending = 0 AND state <> 'deleting'`;

/** Counts and stored bytes of unreferenced blocks whose grace window has passed (`past`) or not (`within`). */
async function unreferencedSummary(m: EntityManager, region: string, graceSeconds: number, window: 'past' | 'within') {
  const [row] = await sqlRows<{ blocks: string; bytes: string | null }>(
    m,
    `SELECT count(*) AS blocks, sum(stored_size) AS bytes FROM block
      WHERE region = $1 AND ${UNREFERENCED}
        AND zero_since ${window === 'past' ? '<=' : '>'} now() - make_interval(secs => $2)`,
    [region, graceSeconds],
  );
  return { blocks: Number(row.blocks), bytes: Number(row.bytes ?? 0) };
}

/** What a GC run would delete now, without marking anything (dry run). */
export function collectableSummary(m: EntityManager, region: string, graceSeconds: number): Promise<{ blocks: number; bytes: number }> {
  return unreferencedSummary(m, region, graceSeconds, 'past');
}

/**
 * After the Swift objects are gone: forget the blocks still marked with `token` (a new upload of the same
 * content starts afresh). Blocks another run took over (abandoned-marks.ts) stay until that run forgets them.
 */
export async function forgetDeletedBlocks(m: EntityManager, region: string, hashes: Buffer[], token: string): Promise<number> {
  if (hashes.length === 0) return 0;
  const rows = await sqlRows(m, `DELETE FROM block WHERE region = $1 AND hash = ANY($2::bytea[]) AND state = 'deleting' AND deleting_by = $3 RETURNING hash`, [
    region,
    hashes,
    token,
  ]);
  return rows.length;
}

/** Blocks without references still inside the grace window: what the next runs will delete. */
export function blocksInGrace(m: EntityManager, region: string, graceSeconds: number): Promise<{ blocks: number; bytes: number }> {
  return unreferencedSummary(m, region, graceSeconds, 'within');
}

/**
 * Gives back marks a run made and did not act on (its lease ran out before it sent their deletes): the blocks
 * become `uploading` again — "not known to be in Swift" — so a later claim uploads (or finds) them rather than
 * trusting they exist. Only marks still held by `token` are given back. Never give back marks taken over: the
 * run that abandoned them may have sent a delete that Swift has yet to carry out on the old object.
 */
export async function unmarkBlocks(m: EntityManager, region: string, hashes: Buffer[], token: string): Promise<number> {
  if (hashes.length === 0) return 0;
  const rows = await sqlRows(
    m,
    `UPDATE block SET state = 'uploading', deleting_by = NULL, deleting_since = NULL
      WHERE region = $1 AND hash = ANY($2::bytea[]) AND state = 'deleting' AND deleting_by = $3
  RETURNING hash`,
    [region, hashes, token],
  );
  return rows.length;
}
