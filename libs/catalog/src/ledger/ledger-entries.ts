import { EntityManager } from 'typeorm';
import { sqlRows } from './sql-rows';

export interface LedgerEntry {
  /** The block's index in the volume (the same shape as a manifest's entry). */
  index: number;
  hash: Buffer;
}

const PAGE = 65536;

/**
 * The non-hole blocks of a volume as seen at a sequence number (a snapshot's, or the head's), in block
 * order, a page at a time so a large volume never sits in memory as rows.
 */
export async function* entriesAt(m: EntityManager, volumeId: string, seq: number): AsyncGenerator<LedgerEntry[]> {
  let after = -1;
  for (;;) {
    const rows = await sqlRows<{ block_index: string; hash: Buffer }>(
      m,
      `SELECT block_index, hash FROM block_version
        WHERE volume_id = $1 AND first_seq <= $2 AND (last_seq IS NULL OR last_seq > $2) AND block_index > $3
        ORDER BY block_index LIMIT $4`,
      [volumeId, seq, after, PAGE],
    );
    if (rows.length === 0) return;
    yield rows.map((r) => ({ index: Number(r.block_index), hash: r.hash }));
    after = Number(rows[rows.length - 1].block_index);
    if (rows.length < PAGE) return;
  }
}

/** How many non-hole blocks a volume has at a sequence number (what entriesAt will give). */
export async function countEntriesAt(m: EntityManager, volumeId: string, seq: number): Promise<number> {
  const [row] = await sqlRows<{ n: string }>(
    m,
    `SELECT count(*) AS n FROM block_version WHERE volume_id = $1 AND first_seq <= $2 AND (last_seq IS NULL OR last_seq > $2)`,
    [volumeId, seq],
  );
  return Number(row.n);
}
