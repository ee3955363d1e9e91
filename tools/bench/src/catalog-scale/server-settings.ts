import { DataSource } from 'typeorm';

/** The PostgreSQL settings a catalog's costs depend on most, as the server reports them. */
export async function serverSettings(db: DataSource): Promise<string> {
  const rows: { name: string; setting: string }[] = await db.query(`SELECT name, current_setting(name) AS setting FROM unnest($1::text[]) AS name`, [
    ['server_version', 'shared_buffers', 'work_mem', 'maintenance_work_mem', 'effective_cache_size', 'max_wal_size', 'autovacuum', 'random_page_cost'],
  ]);
  return rows.map((r) => `${r.name} ${r.setting}`).join(', ');
}
