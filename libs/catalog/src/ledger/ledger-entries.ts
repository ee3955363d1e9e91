import { EntityManager } from 'typeorm';
import { sqlRows } from './sql-rows';

export interface LedgerEntry {
  /** The block's index in the volume (the same shape as a manifest's entry). */
  index: number;
  hash: Buffer;
}

/**
 * Rows a page holds: a page's rows are alive together (its entries, their buffers and the driver's text), and a smaller
 * page leaves less for the collector to find (a 4 M-entry manifest write peaks at 197 MiB in pages of 65,536 under a
 * 192 MiB heap cap, at 157 MiB in pages of 16,384).
 */
const PAGE = 16384;

/**
 * The non-hole blocks of a volume as seen at a sequence number (a snapshot's, or the head's), in block
 * order, a page at a time so a large volume never sits in memory as rows. The rows come back in an entry's shape
 * (block_index as float8, which the driver parses to a number: exact below 2^53), so no entry is made twice.
 */
export async function* entriesAt(m: EntityManager, volumeId: string, seq: number): AsyncGenerator<LedgerEntry[]> {
  let after = -1;
  for (;;) {
    const page = await sqlRows<LedgerEntry>(
      m,
      `SELECT block_index::float8 AS index, hash FROM block_version
        WHERE volume_id = $1 AND first_seq <= $2 AND (last_seq IS NULL OR last_seq > $2) AND block_index > $3
        ORDER BY block_index LIMIT $4`,
      [volumeId, seq, after, PAGE],
    );
    if (page.length === 0) return;
    yield page;
    after = page[page.length - 1].index;
    if (page.length < PAGE) return;
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
