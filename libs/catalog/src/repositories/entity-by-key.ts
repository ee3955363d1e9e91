import { EntityManager, EntityNotFoundError, EntityTarget, ObjectLiteral } from 'typeorm';
import { preparedRows } from '../ledger/sql-rows';

/** A row lock taken as the row is read; none: a plain read. */
export type RowLock = 'FOR UPDATE' | 'FOR NO KEY UPDATE';

/**
 * An entity's row found by its key (and locked, if asked), as a named prepared statement (see preparedRows) where
 * TypeORM's find builds, parses and plans a query on every call: for the lookups run per message and per request.
 * Its columns are listed, not `*`, so a column another release adds leaves this session's statement valid. Values are
 * made into the entity as TypeORM's own finds make them (the driver's hydration: types, then transformers).
 */
export async function entityByKey<T extends ObjectLiteral>(m: EntityManager, entity: EntityTarget<T>, key: string, lock?: RowLock): Promise<T | null> {
  const metadata = m.connection.getMetadata(entity);
  const [primary] = metadata.primaryColumns;
  if (metadata.primaryColumns.length !== 1) throw new Error(`${metadata.tableName} has no single-column key to be found by`);
  const columns = metadata.columns.map((c) => `"${c.databaseName}"`).join(', ');
  const suffix = lock === undefined ? '' : lock === 'FOR UPDATE' ? '_update' : '_no_key_update';
  const text = `SELECT ${columns} FROM "${metadata.tableName}" WHERE "${primary.databaseName}" = $1 ${lock ?? ''}`;
  const [row] = await preparedRows<Record<string, unknown>>(m, `island_${metadata.tableName}_by_key${suffix}_v1`, text, [key]);
  if (!row) return null;
  const found = metadata.create() as T;
  for (const column of metadata.columns) column.setEntityValue(found, m.connection.driver.prepareHydratedValue(row[column.databaseName], column));
  return found;
}

/** entityByKey for a row that must exist: TypeORM's EntityNotFoundError otherwise, as its findOneByOrFail throws. */
export async function existingEntityByKey<T extends ObjectLiteral>(m: EntityManager, entity: EntityTarget<T>, key: string, lock?: RowLock): Promise<T> {
  const found = await entityByKey(m, entity, key, lock);
  if (!found) throw new EntityNotFoundError(entity, { [m.connection.getMetadata(entity).primaryColumns[0].propertyName]: key });
  return found;
}
