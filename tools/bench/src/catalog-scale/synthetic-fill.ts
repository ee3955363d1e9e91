import { DataSource, EntityManager } from 'typeorm';
import { dropIndexes, recreateIndexes } from './bulk-load-indexes';
import { CatalogShape } from './shape';

export const SCALE_REGION = 'scale';
const BLOCK_SIZE = 1 << 20;
/** Rows one INSERT … SELECT writes (its own transaction). */
const ROWS_PER_STATEMENT = 5_000_000;

/**
 * The ids the fill gives volume v and its snapshots (deterministic, random-looking uuids like real ones), the
 * project it belongs to and the hash of block row n — as SQL expressions, so the bench finds what the fill wrote.
 */
export const synthetic = {
  volumeId: (v: string) => `md5('island-scale-volume-' || ${v})::uuid`,
  snapshotId: (v: string, seq: string) => `md5('island-scale-snapshot-' || ${v} || '-' || ${seq})::uuid`,
  projectId: (v: string, shape: CatalogShape) => `'scale-project-' || (${v} % ${shape.projects})`,
  /**
   * 32 bytes led by a multiplicative hash of n (a permutation of 32-bit values, so keys spread over the whole index as
   * real hashes do) and then n itself (unique); sha256() in SQL would cost more than the row's insert.
   */
  blockHash: (n: string) =>
    `int4send(((${n})::bigint * 2654435761 % 4294967296 - 2147483648)::int) || int8send((${n})::bigint) || '\\x${'5a'.repeat(20)}'::bytea`,
};

/**
 * Fills an empty, migrated catalog in SQL: `volumes` volumes of one region, each with `snapshotsPerVolume` available
 * snapshots; the first writes `baseBlocks` indexes, each later one rewrites `changedPerSnapshot` of them (indexes
 * are rewritten once, in order). Version r of volume v names block row n = v × versionsPerVolume + r, each block
 * referenced once; `unreferencedBlocks` more block rows have no reference and started their grace window within
 * the last day. Block and version rows are loaded without their indexes (built afterwards from the migrations' own
 * definitions) and without foreign-key triggers (the rows agree by construction), then vacuumed and analyzed.
 */
export async function fillSyntheticCatalog(dataSource: DataSource, shape: CatalogShape, log: (m: string) => void): Promise<void> {
  const started = performance.now();
  const elapsed = () => `${((performance.now() - started) / 1000).toFixed(0)} s`;
  await dataSource.transaction((m) => insertVolumesAndSnapshots(m, shape));
  log(`volumes and snapshots in (${elapsed()})`);
  const definitions = await dropIndexes(dataSource.manager, ['block', 'block_version']);
  // two sessions, one per table: the machine's two cores
  await Promise.all([
    onBulkSession(dataSource, async (m) => {
      await insertBlockVersions(m, shape, (rows) => log(`block_version: ${rows} rows (${elapsed()})`));
      await recreateIndexes(m, 'block_version', definitions);
      log(`block_version indexes built (${elapsed()})`);
    }),
    onBulkSession(dataSource, async (m) => {
      await insertBlocks(m, shape, (rows) => log(`block: ${rows} rows (${elapsed()})`));
      await recreateIndexes(m, 'block', definitions);
      log(`block indexes built (${elapsed()})`);
    }),
  ]);
  await dataSource.query(`VACUUM (ANALYZE) block, block_version, snapshot, volume`);
  log(`vacuumed and analyzed (${elapsed()})`);
}

async function onBulkSession(dataSource: DataSource, work: (m: EntityManager) => Promise<void>): Promise<void> {
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    // replica: no foreign-key triggers for the synthetic rows; memory for sorting index builds
    await runner.query(`SET session_replication_role = replica; SET synchronous_commit = off; SET maintenance_work_mem = '2GB'`);
    await work(runner.manager);
  } finally {
    // the connection goes back to the pool: no later statement may run without foreign keys or commit asynchronously
    await runner.query(`RESET ALL`).catch(() => undefined);
    await runner.release();
  }
}

async function insertVolumesAndSnapshots(m: EntityManager, shape: CatalogShape): Promise<void> {
  const last = shape.snapshotsPerVolume;
  await m.query(`INSERT INTO region (name, container) VALUES ($1, 'island-scale') ON CONFLICT DO NOTHING`, [SCALE_REGION]);
  await m.query(`INSERT INTO project (id) SELECT 'scale-project-' || p FROM generate_series(0, $1 - 1) p`, [shape.projects]);
  await m.query(
    `INSERT INTO volume (id, project_id, name, region, size_bytes, block_size, status, next_seq, head_seq, head_snapshot_id)
     SELECT ${synthetic.volumeId('v')}, ${synthetic.projectId('v', shape)}, 'scale-' || v, $1, $2::bigint * $3, $2, 'available',
            $4 + 1, $4, ${synthetic.snapshotId('v', '$4')}
       FROM generate_series(0, $5 - 1) v`,
    [SCALE_REGION, BLOCK_SIZE, 2 * shape.baseBlocks, last, shape.volumes],
  );
  const volumesPerStatement = Math.max(1, Math.floor(ROWS_PER_STATEMENT / 5 / last));
  for (let v0 = 0; v0 < shape.volumes; v0 += volumesPerStatement) {
    await m.query(
      `INSERT INTO snapshot (id, volume_id, project_id, region, seq, name, status, size_bytes, block_size, manifest_object,
                             manifest_sealed, committed_at)
       SELECT ${synthetic.snapshotId('v', 's')}, ${synthetic.volumeId('v')}, ${synthetic.projectId('v', shape)}, $1, s, 'scale-' || v || '-' || s,
              'available', $2::bigint * $3, $2, 'manifests/' || ${synthetic.volumeId('v')} || '/' || s || '-' || ${synthetic.snapshotId('v', 's')}, true, now()
         FROM generate_series($4::int, $5::int) v, generate_series(1, $6) s`,
      [SCALE_REGION, BLOCK_SIZE, 2 * shape.baseBlocks, v0, Math.min(shape.volumes, v0 + volumesPerStatement) - 1, last],
    );
  }
}

/** Versions in two passes over the volumes: the first snapshots' blocks, then the later snapshots' changes. */
async function insertBlockVersions(m: EntityManager, shape: CatalogShape, progress: (rows: number) => void): Promise<void> {
  const R = shape.versionsPerVolume;
  const B = shape.baseBlocks;
  const C = shape.changedPerSnapshot;
  let written = 0;
  for (const [r0, r1] of [
    [0, B - 1],
    [B, R - 1],
  ]) {
    const volumesPerStatement = Math.max(1, Math.floor(ROWS_PER_STATEMENT / (r1 - r0 + 1)));
    for (let v0 = 0; v0 < shape.volumes; v0 += volumesPerStatement) {
      const v1 = Math.min(shape.volumes, v0 + volumesPerStatement) - 1;
      // one uuid per volume, not per row; r < B: index r as the first snapshot wrote it, ended by its rewrite when it has one; r ≥ B: the rewrite
      await m.query(
        `WITH vol AS MATERIALIZED (SELECT v, ${synthetic.volumeId('v')} AS id FROM generate_series($1::int, $2::int) v)
         INSERT INTO block_version (volume_id, block_index, hash, first_seq, last_seq)
         SELECT vol.id,
                CASE WHEN r < ${B} THEN r ELSE r - ${B} END,
                ${synthetic.blockHash(`vol.v::bigint * ${R} + r`)},
                CASE WHEN r < ${B} THEN 1 ELSE 2 + (r - ${B}) / ${C} END,
                CASE WHEN r < ${R - B} THEN 2 + r / ${C} END
           FROM vol, generate_series($3::int, $4::int) r`,
        [v0, v1, r0, r1],
      );
      written += (v1 - v0 + 1) * (r1 - r0 + 1);
      progress(written);
    }
  }
}

async function insertBlocks(m: EntityManager, shape: CatalogShape, progress: (rows: number) => void): Promise<void> {
  const total = shape.versionRows + shape.unreferencedBlocks;
  for (let n0 = 0; n0 < total; n0 += ROWS_PER_STATEMENT) {
    const n1 = Math.min(total, n0 + ROWS_PER_STATEMENT) - 1;
    await m.query(
      `INSERT INTO block (region, hash, size, stored_size, refcount, pending, state, zero_since, project_id)
       SELECT $1, ${synthetic.blockHash('n')}, ${BLOCK_SIZE}, ${BLOCK_SIZE / 2} + (n % ${BLOCK_SIZE / 2})::int,
              CASE WHEN n < $2 THEN 1 ELSE 0 END, 0, 'present',
              CASE WHEN n >= $2 THEN now() - make_interval(secs => (n % 86400)::int) END,
              ${synthetic.projectId(`(n / ${shape.versionsPerVolume})`, shape)}
         FROM generate_series($3::bigint, $4::bigint) n`,
      [SCALE_REGION, shape.versionRows, n0, n1],
    );
    progress(n1 + 1);
  }
}
