import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Snapshot copies between regions. A copy is a snapshot of a *replica* volume: one hidden volume per source
 * volume and region (`replica_of`), whose snapshots keep their source's sequence numbers and hold their
 * blocks in their own region. `copy_of` names the original snapshot every copy descends from (one live copy
 * per region), `copied_from` the snapshot whose blocks a copy reads (it cannot be deleted meanwhile).
 * They are lineage, not foreign keys: a region's catalog rebuilt from its Swift alone holds copies whose
 * originals live in another region's container.
 */
export class RegionCopies1764300000000 implements MigrationInterface {
  name = 'RegionCopies1764300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE volume ADD COLUMN replica_of uuid;
      CREATE UNIQUE INDEX volume_replica ON volume (replica_of, region) WHERE replica_of IS NOT NULL AND status <> 'deleted';
      ALTER TABLE snapshot ADD COLUMN copy_of uuid;
      ALTER TABLE snapshot ADD COLUMN copied_from uuid;
      CREATE UNIQUE INDEX snapshot_one_copy_per_region ON snapshot (coalesce(copy_of, id), region) WHERE status NOT IN ('deleted', 'error');
      CREATE INDEX snapshot_copies ON snapshot (copy_of) WHERE copy_of IS NOT NULL;
      -- a copy deleted (or failed) and made again takes its original's seq again in the same replica
      ALTER TABLE snapshot DROP CONSTRAINT snapshot_volume_id_seq_key;
      CREATE UNIQUE INDEX snapshot_volume_seq ON snapshot (volume_id, seq) WHERE status NOT IN ('deleted', 'error');
      CREATE INDEX snapshot_copied_from ON snapshot (copied_from) WHERE copied_from IS NOT NULL;

      CREATE OR REPLACE VIEW island_usage_by_project AS
      SELECT p.id AS project_id, r.name AS region,
             (SELECT count(*) FROM volume v WHERE v.project_id = p.id AND v.region = r.name AND v.status NOT IN ('deleted', 'replica')) AS volumes,
             (SELECT coalesce(sum(v.size_bytes), 0) FROM volume v WHERE v.project_id = p.id AND v.region = r.name AND v.status NOT IN ('deleted', 'replica'))::bigint AS volume_bytes,
             (SELECT count(*) FROM snapshot s WHERE s.project_id = p.id AND s.region = r.name AND s.status NOT IN ('deleted', 'error')) AS snapshots,
             (SELECT coalesce(sum(s.size_bytes), 0) FROM snapshot s WHERE s.project_id = p.id AND s.region = r.name AND s.status NOT IN ('deleted', 'error'))::bigint AS snapshot_logical_bytes,
             (SELECT coalesce(sum(s.bytes_stored), 0) FROM snapshot s WHERE s.project_id = p.id AND s.region = r.name AND s.status NOT IN ('deleted', 'error'))::bigint AS snapshot_uploaded_bytes
        FROM project p CROSS JOIN region r;
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE OR REPLACE VIEW island_usage_by_project AS
      SELECT p.id AS project_id, r.name AS region,
             (SELECT count(*) FROM volume v WHERE v.project_id = p.id AND v.region = r.name AND v.status <> 'deleted') AS volumes,
             (SELECT coalesce(sum(v.size_bytes), 0) FROM volume v WHERE v.project_id = p.id AND v.region = r.name AND v.status <> 'deleted')::bigint AS volume_bytes,
             (SELECT count(*) FROM snapshot s WHERE s.project_id = p.id AND s.region = r.name AND s.status NOT IN ('deleted', 'error')) AS snapshots,
             (SELECT coalesce(sum(s.size_bytes), 0) FROM snapshot s WHERE s.project_id = p.id AND s.region = r.name AND s.status NOT IN ('deleted', 'error'))::bigint AS snapshot_logical_bytes,
             (SELECT coalesce(sum(s.bytes_stored), 0) FROM snapshot s WHERE s.project_id = p.id AND s.region = r.name AND s.status NOT IN ('deleted', 'error'))::bigint AS snapshot_uploaded_bytes
        FROM project p CROSS JOIN region r;
      DROP INDEX snapshot_volume_seq;
      ALTER TABLE snapshot ADD CONSTRAINT snapshot_volume_id_seq_key UNIQUE (volume_id, seq);
      DROP INDEX snapshot_copied_from;
      DROP INDEX snapshot_copies;
      DROP INDEX snapshot_one_copy_per_region;
      ALTER TABLE snapshot DROP COLUMN copied_from;
      ALTER TABLE snapshot DROP COLUMN copy_of;
      DROP INDEX volume_replica;
      ALTER TABLE volume DROP COLUMN replica_of;
    `);
  }
}
