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
