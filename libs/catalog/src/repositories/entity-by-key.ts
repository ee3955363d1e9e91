import { createHash } from 'node:crypto';
import { EntityManager, EntityMetadata, EntityNotFoundError, EntityTarget, ObjectLiteral } from 'typeorm';
import { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata';
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
  const { metadata, primary } = keyed(m, entity);
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

/**
 * Sets some columns of an entity's row found by its key, as TypeORM's `update` does (each value through the driver:
 * transformers, then types) but as a named prepared statement, one per set of columns changed: the state changes a
 * snapshot or volume goes through (its status, its reason, its counters) are few and run for every operation.
 */
export async function patchByKey<T extends ObjectLiteral>(m: EntityManager, entity: EntityTarget<T>, key: string, fields: Partial<T>): Promise<void> {
  const { metadata, primary } = keyed(m, entity);
  const changed = Object.keys(fields)
    .filter((property) => fields[property] !== undefined)
    .sort()
    .map((property) => {
      const column = metadata.findColumnWithPropertyName(property);
      if (!column) throw new Error(`${metadata.tableName} has no column for ${property}`);
      return column;
    });
  if (changed.length === 0) return;
  const sets = changed.map((c, i) => `"${c.databaseName}" = $${i + 2}`).join(', ');
  const values = changed.map((c) => m.connection.driver.preparePersistentValue(fields[c.propertyName], c));
  const name = `island_${metadata.tableName}_set_${createHash('sha1').update(sets).digest('hex').slice(0, 12)}_v1`;
  await preparedRows(m, name, `UPDATE "${metadata.tableName}" SET ${sets} WHERE "${primary.databaseName}" = $1`, [key, ...values]);
}

function keyed(m: EntityManager, entity: EntityTarget<ObjectLiteral>): { metadata: EntityMetadata; primary: ColumnMetadata } {
  const metadata = m.connection.getMetadata(entity);
  if (metadata.primaryColumns.length !== 1) throw new Error(`${metadata.tableName} has no single-column key to be found by`);
  return { metadata, primary: metadata.primaryColumns[0] };
}
