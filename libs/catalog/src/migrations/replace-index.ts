import { QueryRunner } from 'typeorm';

/**
 * Builds an index's new definition beside the old one, so the statements that use it always have one. A plain CREATE
 * INDEX (a migration runs in a transaction): writes to the table wait while it builds, for a time that grows with its rows.
 */
export async function replaceIndex(q: QueryRunner, table: string, name: string, definition: string): Promise<void> {
  await q.query(`CREATE INDEX ${name}_next ON ${table} ${definition}`);
  await q.query(`DROP INDEX ${name}`);
  await q.query(`ALTER INDEX ${name}_next RENAME TO ${name}`);
}
