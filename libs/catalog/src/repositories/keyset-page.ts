import { EntityManager, ObjectLiteral, SelectQueryBuilder } from 'typeorm';

/** Which page of a list: the rows after `marker` (the id of the previous page's last row), at most `limit` of them. */
export interface PageRequest {
  marker?: string;
  limit: number;
}

export interface Page<T> {
  items: T[];
  /** The last item's id when more rows follow: the next page's marker. */
  nextMarker: string | null;
}

/** How a list is ordered and whose rows a marker may name. */
export interface KeysetOrder {
  /** The table's columns the list is sorted on, ascending, ending with `id` so that the order is total. */
  columns: readonly string[];
  /** The project a marker must belong to; undefined: any (the admin). */
  scope?: string;
}

/**
 * One page of a list, found from the marker's own row (`(a, b, id) > (its a, b, id)`) rather than by an offset: a
 * page costs the same wherever it is in the list, and rows added or deleted meanwhile neither repeat nor skip others.
 * The marker's row is read in SQL, not passed back from JavaScript, whose dates would lose the microseconds.
 * Null when the marker is not a row of the scope whose sort columns are all set (e.g. a snapshot since taken out
 * of the recycle bin, which the bin's order by purge time cannot place).
 */
export async function keysetPage<T extends ObjectLiteral & { id: string }>(
  m: EntityManager,
  query: SelectQueryBuilder<T>,
  order: KeysetOrder,
  page: PageRequest,
): Promise<Page<T> | null> {
  const alias = query.alias;
  const table = query.expressionMap.mainAlias?.metadata.tableName;
  if (!table) throw new Error(`keysetPage needs a query on an entity's table, not ${query.getQuery()}`);
  const columns = order.columns.join(', ');
  if (page.marker !== undefined) {
    const placeable = order.columns.map((c) => `${c} IS NOT NULL`).join(' AND ');
    const scoped = order.scope === undefined ? '' : ' AND project_id = $2';
    const params = order.scope === undefined ? [page.marker] : [page.marker, order.scope];
    const [marker] = (await m.query(`SELECT ${placeable} AS placeable FROM ${table} WHERE id = $1${scoped}`, params)) as { placeable: boolean }[];
    if (!marker?.placeable) return null;
    query.andWhere(`(${order.columns.map((c) => `${alias}.${c}`).join(', ')}) > (SELECT ${columns} FROM ${table} WHERE id = :keysetMarker)`, {
      keysetMarker: page.marker,
    });
  }
  for (const [i, column] of order.columns.entries()) query[i === 0 ? 'orderBy' : 'addOrderBy'](`${alias}.${column}`, 'ASC');
  const rows = await query.limit(page.limit + 1).getMany();
  const items = rows.slice(0, page.limit);
  return { items, nextMarker: rows.length > page.limit ? items[items.length - 1].id : null };
}
