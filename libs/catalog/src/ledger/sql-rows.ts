import { EntityManager } from 'typeorm';

/**
 * Runs SQL and returns its rows. TypeORM's postgres driver answers UPDATE/DELETE with [rows, rowCount]
 * and everything else with rows; callers should not care.
 */
export async function sqlRows<T>(m: EntityManager, text: string, params: unknown[] = []): Promise<T[]> {
  const result: unknown = await m.query(text, params);
  if (Array.isArray(result) && result.length === 2 && Array.isArray(result[0]) && typeof result[1] === 'number') {
    return result[0] as T[];
  }
  return result as T[];
}

/**
 * sqlRows as a named prepared statement: each session parses and plans `text` once (PostgreSQL then reuses a generic
 * plan) instead of for every call. For the large statements run per batch of blocks, where planning costs more than
 * running them: the claim's CTE took ~1.2 ms of backend CPU unnamed against ~0.25 ms prepared (docs/performance.md).
 * Only for statements whose best plan does not depend on their arrays' length (rows found by key, a batch of a few dozen
 * blocks, one row inserted): a generic plan cannot see how long an array parameter is, so statements over a whole
 * snapshot's blocks (a commit's versions, its block deltas) stay unnamed and are planned for what they are given.
 * `name` must belong to this one text. It goes through TypeORM's query runner like any statement (its transaction,
 * its errors): node-postgres takes a query config object where TypeORM passes the text on.
 */
export function preparedRows<T>(m: EntityManager, name: string, text: string, params: unknown[]): Promise<T[]> {
  const config: { name: string; text: string } = { name, text };
  return sqlRows<T>(m, config as unknown as string, params);
}

/**
 * Runs a statement that changes rows (INSERT, UPDATE or DELETE, without RETURNING) and returns how many it changed,
 * counted in the database: no row per change comes back to the process (a volume's 4 M versions once did).
 */
export async function changedRowCount(m: EntityManager, statement: string, params: unknown[]): Promise<number> {
  const [row] = await sqlRows<{ n: number }>(m, `WITH changed AS (${statement} RETURNING 1) SELECT count(*)::int AS n FROM changed`, params);
  return row.n;
}
