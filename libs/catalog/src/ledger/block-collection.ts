import { EntityManager } from 'typeorm';
import { sqlRows } from './sql-rows';

export interface CollectableBlock {
  hash: Buffer;
  storedSize: number;
}

/**
 * Marks up to `limit` blocks of a region `deleting`: no reference, no upload claim, and out of references
 * for longer than the grace window. The test and the mark are one UPDATE of each block row, taken with
 * SKIP LOCKED: a row a worker is claiming is skipped, and a row claimed just before is re-checked against
 * its new `pending` count. Several GC replicas mark disjoint sets.
 */
export async function markBlocksForDeletion(m: EntityManager, region: string, graceSeconds: number, limit: number): Promise<CollectableBlock[]> {
  const rows = await sqlRows<{ hash: Buffer; stored_size: number }>(
    m,
    `UPDATE block b SET state = 'deleting', deleting_since = now()
      WHERE (b.region, b.hash) IN (
              SELECT region, hash FROM block
               WHERE region = $1 AND refcount = 0 AND pending = 0 AND state <> 'deleting'
                 AND zero_since <= now() - make_interval(secs => $2)
               ORDER BY zero_since LIMIT $3
                 FOR UPDATE SKIP LOCKED)
        AND b.refcount = 0 AND b.pending = 0
  RETURNING b.hash, b.stored_size`,
    [region, graceSeconds, limit],
  );
  return rows.map((r) => ({ hash: r.hash, storedSize: r.stored_size }));
}

/** What a GC run would delete now, without marking anything (dry run). */
export async function collectableBlocks(m: EntityManager, region: string, graceSeconds: number, limit: number): Promise<CollectableBlock[]> {
  const rows = await sqlRows<{ hash: Buffer; stored_size: number }>(
    m,
    `SELECT hash, stored_size FROM block
      WHERE region = $1 AND refcount = 0 AND pending = 0 AND state <> 'deleting'
        AND zero_since <= now() - make_interval(secs => $2)
      ORDER BY zero_since LIMIT $3`,
    [region, graceSeconds, limit],
  );
  return rows.map((r) => ({ hash: r.hash, storedSize: r.stored_size }));
}

/**
 * Blocks a GC marked but did not finish (it crashed between marking and deleting): any replica may
 * finish them, since deleting a Swift object twice is harmless.
 */
export async function abandonedDeletions(m: EntityManager, region: string, olderThanSeconds: number, limit: number): Promise<CollectableBlock[]> {
  const rows = await sqlRows<{ hash: Buffer; stored_size: number }>(
    m,
    `UPDATE block b SET deleting_since = now()
      WHERE (b.region, b.hash) IN (
              SELECT region, hash FROM block
               WHERE region = $1 AND state = 'deleting' AND deleting_since <= now() - make_interval(secs => $2)
               LIMIT $3 FOR UPDATE SKIP LOCKED)
  RETURNING b.hash, b.stored_size`,
    [region, olderThanSeconds, limit],
  );
  return rows.map((r) => ({ hash: r.hash, storedSize: r.stored_size }));
}

/** After the Swift objects are gone: forget the blocks (a new upload of the same content starts afresh). */
export async function forgetDeletedBlocks(m: EntityManager, region: string, hashes: Buffer[]): Promise<number> {
  if (hashes.length === 0) return 0;
  const rows = await sqlRows(m, `DELETE FROM block WHERE region = $1 AND hash = ANY($2::bytea[]) AND state = 'deleting' RETURNING hash`, [
    region,
    hashes,
  ]);
  return rows.length;
}

/** Blocks without references still inside the grace window: what the next runs will delete. */
export async function blocksInGrace(m: EntityManager, region: string, graceSeconds: number): Promise<{ blocks: number; bytes: number }> {
  const [row] = await sqlRows<{ blocks: string; bytes: string | null }>(
    m,
    `SELECT count(*) AS blocks, sum(stored_size) AS bytes FROM block
      WHERE region = $1 AND refcount = 0 AND pending = 0 AND state <> 'deleting'
        AND zero_since > now() - make_interval(secs => $2)`,
    [region, graceSeconds],
  );
  return { blocks: Number(row.blocks), bytes: Number(row.bytes ?? 0) };
}
