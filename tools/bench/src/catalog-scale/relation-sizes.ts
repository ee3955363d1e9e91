import { DataSource } from 'typeorm';

export interface RelationSize {
  table: string;
  rows: number;
  heapBytes: number;
  indexBytes: number;
  /** Each index's own size. */
  indexes: { name: string; bytes: number }[];
}

/** The on-disk size of the ledger's tables and of each of their indexes (rows as the last ANALYZE estimated them). */
export async function relationSizes(db: DataSource, tables: string[]): Promise<RelationSize[]> {
  const rows: { table: string; rows: string; heap: string; index: string; indexes: { name: string; bytes: number }[] }[] = await db.query(
    `SELECT t.relname AS table, t.reltuples::bigint AS rows, pg_relation_size(t.oid) AS heap, pg_indexes_size(t.oid) AS index,
            (SELECT json_agg(json_build_object('name', i.relname, 'bytes', pg_relation_size(i.oid)) ORDER BY i.relname)
               FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = t.oid) AS indexes
       FROM pg_class t JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = 'public'
      WHERE t.relname = ANY($1) AND t.relkind = 'r'
      ORDER BY t.relname`,
    [tables],
  );
  return rows.map((r) => ({ table: r.table, rows: Number(r.rows), heapBytes: Number(r.heap), indexBytes: Number(r.index), indexes: r.indexes ?? [] }));
}

/** Sizes in one unit at every scale, so figures compare at a glance. */
export function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(3)} GiB`;
}
