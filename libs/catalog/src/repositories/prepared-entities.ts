import { EntityManager, EntityTarget, ObjectLiteral } from 'typeorm';
import { preparedRows } from '../ledger/sql-rows';

/**
 * An entity's row found by its key and locked, as a named prepared statement (see preparedRows) where TypeORM would build,
 * parse and plan a query on every call: for the lookups run per message (a snapshot part's report locks its snapshot).
 * Its columns are listed, not `*`, so a column another release adds leaves this session's statement valid. Values are
 * made into the entity as TypeORM's own finds make them (the driver's hydration: types, then transformers).
 */
export async function lockedEntity<T extends ObjectLiteral>(
  m: EntityManager,
  entity: EntityTarget<T>,
  lock: 'FOR UPDATE' | 'FOR NO KEY UPDATE',
  key: string,
): Promise<T | null> {
  const metadata = m.connection.getMetadata(entity);
  const [primary] = metadata.primaryColumns;
  if (metadata.primaryColumns.length !== 1) throw new Error(`${metadata.tableName} has no single-column key to be found by`);
  const columns = metadata.columns.map((c) => `"${c.databaseName}"`).join(', ');
  const name = `island_locked_${metadata.tableName}_${lock === 'FOR UPDATE' ? 'update' : 'no_key_update'}_v1`;
  const text = `SELECT ${columns} FROM "${metadata.tableName}" WHERE "${primary.databaseName}" = $1 ${lock}`;
  const [row] = await preparedRows<Record<string, unknown>>(m, name, text, [key]);
  if (!row) return null;
  const found = metadata.create() as T;
  for (const column of metadata.columns) column.setEntityValue(found, m.connection.driver.prepareHydratedValue(row[column.databaseName], column));
  return found;
}
