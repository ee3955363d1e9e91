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
 * (block_index as float8, which the driver parses to a number: exact below 2^53), so no entry is made twice. `after`: the
 * blocks after that one only.
 */
export async function* entriesAt(m: EntityManager, volumeId: string, seq: number, after = -1): AsyncGenerator<LedgerEntry[]> {
  for (;;) {
    const page = await entriesPage(m, volumeId, seq, after);
    if (page.length === 0) return;
    yield page;
    after = page[page.length - 1].index;
    if (page.length < PAGE) return;
  }
}

/** The page of entries after block `after`. */
function entriesPage(m: EntityManager, volumeId: string, seq: number, after: number): Promise<LedgerEntry[]> {
  return sqlRows<LedgerEntry>(
    m,
    `SELECT block_index::float8 AS index, hash FROM block_version
      WHERE volume_id = $1 AND first_seq <= $2 AND (last_seq IS NULL OR last_seq > $2) AND block_index > $3
      ORDER BY block_index LIMIT $4`,
    [volumeId, seq, after, PAGE],
  );
}

/**
 * entriesAt with their number, which a manifest's header says before them: a volume whose entries fit in one page with
 * room to spare (fewer than 16,384: under 16 GiB of written 1 MiB blocks) has them counted as read, with no statement of
 * its own; a larger one has them counted first. `pages` may be walked more than once (a retried PUT); its first page is
 * read once and kept.
 */
export async function countedEntriesAt(
  m: EntityManager,
  volumeId: string,
  seq: number,
): Promise<{ count: number; pages: () => AsyncGenerator<LedgerEntry[]> }> {
  const first = await entriesPage(m, volumeId, seq, -1);
  const more = first.length === PAGE;
  const count = more ? await countEntriesAt(m, volumeId, seq) : first.length;
  return {
    count,
    async *pages() {
      if (first.length > 0) yield first;
      if (more) yield* entriesAt(m, volumeId, seq, first[first.length - 1].index);
    },
  };
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
