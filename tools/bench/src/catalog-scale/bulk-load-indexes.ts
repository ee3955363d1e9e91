import { EntityManager } from 'typeorm';

/** An index of a table as the migrations made it: recreated from its own definition after a bulk load. */
interface IndexDefinition {
  table: string;
  index: string;
  /** Set when the index backs a constraint (primary key, unique): recreated as that constraint. */
  constraint: string | null;
  /** CREATE INDEX …, or the constraint's definition. */
  definition: string;
}

/**
 * Drops the indexes of `tables` (constraint-backed ones through their constraints) and returns their definitions,
 * read from the catalog's own schema, so that recreating them after the load gives exactly the migrations' indexes.
 */
export async function dropIndexes(m: EntityManager, tables: string[]): Promise<IndexDefinition[]> {
  const rows: { table: string; index: string; constraint: string | null; definition: string }[] = await m.query(
    `SELECT t.relname AS table, i.relname AS index, c.conname AS constraint,
            coalesce(pg_get_constraintdef(c.oid), pg_get_indexdef(i.oid)) AS definition
       FROM pg_index x
       JOIN pg_class i ON i.oid = x.indexrelid
       JOIN pg_class t ON t.oid = x.indrelid
       JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = 'public'
       LEFT JOIN pg_constraint c ON c.conindid = i.oid AND c.contype IN ('p', 'u')
      WHERE t.relname = ANY($1)
      ORDER BY t.relname, i.relname`,
    [tables],
  );
  for (const r of rows) {
    await m.query(r.constraint ? `ALTER TABLE ${r.table} DROP CONSTRAINT ${r.constraint}` : `DROP INDEX ${r.index}`);
  }
  return rows;
}

/** Builds the dropped indexes of one table again, one after the other. */
export async function recreateIndexes(m: EntityManager, table: string, definitions: IndexDefinition[]): Promise<void> {
  for (const d of definitions.filter((d) => d.table === table)) {
    await m.query(d.constraint ? `ALTER TABLE ${d.table} ADD CONSTRAINT ${d.constraint} ${d.definition}` : d.definition);
  }
}
