import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { DataSource } from 'typeorm';

/** What claims, GC passes and rebuilds read by block hash: the block table and its key. */
const BLOCK_TABLE_RELATIONS = ['block', 'block_pkey'];

export interface RelationLoad {
  relation: string;
  bytes: number;
  seconds: number;
}

/**
 * Reads the block table and its key into the operating system's page cache (pg_prewarm, mode 'read'), as a
 * catalog server with memory for them keeps them: what the ledger costs a block once the catalog's size no longer
 * decides whether its rows are on disk.
 */
export async function loadBlockTable(db: DataSource): Promise<RelationLoad[]> {
  try {
    await db.query('CREATE EXTENSION IF NOT EXISTS pg_prewarm');
  } catch (error) {
    throw new Error(`pg_prewarm (one of PostgreSQL's contrib modules) is needed to read the block table into memory: ${(error as Error).message}`);
  }
  const loads: RelationLoad[] = [];
  for (const relation of BLOCK_TABLE_RELATIONS) {
    const started = performance.now();
    const [row] = await db.query(`SELECT pg_prewarm($1::regclass, 'read') AS pages, current_setting('block_size')::int AS page_bytes`, [relation]);
    loads.push({ relation, bytes: Number(row.pages) * row.page_bytes, seconds: (performance.now() - started) / 1000 });
  }
  return loads;
}

/**
 * Drops the operating system's page cache (root only), so that the rounds after it read from disk what a catalog
 * larger than memory keeps there, whatever an earlier run or probe left cached. Returns false where it may not.
 */
export function dropPageCache(): boolean {
  try {
    execFileSync('sync');
    writeFileSync('/proc/sys/vm/drop_caches', '3');
    return true;
  } catch {
    return false;
  }
}
