import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { createCatalogDataSource } from '@island/catalog';
import { CatalogShape, scaleLabel } from './shape';

const ADMIN_URL = process.env.ISLAND_BENCH_ADMIN_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
/** Only databases with this prefix are ever created, reused or dropped by the bench. */
const PREFIX = 'island_scale_';
/** The database comment that says a fill finished, and of which shape. */
const MARKER = 'island catalog-scale bench, filled: ';

export interface ScaleDatabase {
  name: string;
  url: string;
  dataSource: DataSource;
  /** True when an earlier run had filled it with this shape already. */
  reused: boolean;
}

export function scaleDatabaseName(shape: CatalogShape): string {
  return `${PREFIX}${scaleLabel(shape.versionRows).toLowerCase()}`;
}

async function withAdmin<T>(work: (admin: Client) => Promise<T>): Promise<T> {
  const admin = new Client({ connectionString: ADMIN_URL });
  await admin.connect();
  try {
    return await work(admin);
  } finally {
    await admin.end();
  }
}

/** The shape recorded by a finished fill of the database, or undefined (absent, or never finished). */
async function filledShape(admin: Client, name: string): Promise<string | undefined> {
  const { rows } = await admin.query<{ comment: string | null }>(
    `SELECT shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE datname = $1`,
    [name],
  );
  const comment = rows[0]?.comment;
  return comment?.startsWith(MARKER) ? comment.slice(MARKER.length) : undefined;
}

/**
 * Opens the scale's database: reused as it is when a finished fill of the same shape is recorded on it (unless
 * `refill`), otherwise created anew with every catalog migration applied, empty.
 */
export async function openScaleDatabase(shape: CatalogShape, refill: boolean): Promise<ScaleDatabase> {
  const name = scaleDatabaseName(shape);
  const reused = await withAdmin(async (admin) => {
    if (!refill && (await filledShape(admin, name)) === JSON.stringify(shape)) return true;
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${name}`);
    return false;
  });
  const url = ADMIN_URL.replace(/\/[^/]*$/, `/${name}`);
  const dataSource = createCatalogDataSource(url, 'island-bench-catalog-scale', 4);
  await dataSource.initialize();
  if (!reused) await dataSource.runMigrations();
  return { name, url, dataSource, reused };
}

/** Records that the fill finished: a later run reuses the database instead of filling it again. */
export async function markFilled(db: ScaleDatabase, shape: CatalogShape): Promise<void> {
  await withAdmin((admin) => admin.query(`COMMENT ON DATABASE ${db.name} IS ${literal(MARKER + JSON.stringify(shape))}`));
}

export async function dropScaleDatabase(db: ScaleDatabase): Promise<void> {
  if (db.dataSource.isInitialized) await db.dataSource.destroy();
  if (!db.name.startsWith(PREFIX)) throw new Error(`refusing to drop ${db.name}`);
  await withAdmin((admin) => admin.query(`DROP DATABASE IF EXISTS ${db.name} WITH (FORCE)`));
}

function literal(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}
