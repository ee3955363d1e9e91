import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A recycle bin for snapshots: a deleted snapshot may be kept restorable (status `recycled`, its block versions and
 * manifest kept) until `purge_after`, then dropped as a delete drops it. How long is the project's
 * `snapshot_retention_seconds` (null: the configured default, ISLAND_SNAPSHOT_RETENTION_SECONDS; 0: no bin).
 */
export class SnapshotRecycleBin1765500000000 implements MigrationInterface {
  name = 'SnapshotRecycleBin1765500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE project ADD COLUMN snapshot_retention_seconds integer CHECK (snapshot_retention_seconds >= 0);
      ALTER TABLE snapshot ADD COLUMN purge_after timestamptz;
      CREATE INDEX snapshot_recycled ON snapshot (purge_after) WHERE status = 'recycled';
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP INDEX snapshot_recycled;
      ALTER TABLE snapshot DROP COLUMN purge_after;
      ALTER TABLE project DROP COLUMN snapshot_retention_seconds;
    `);
  }
}
