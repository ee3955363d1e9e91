import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Scrubbing: a block found missing or corrupt in Swift that no other region could repair is marked damaged
 * (`block.damaged_reason`, back to `uploading` so that an upload of the same bytes writes it again), and so are the
 * snapshots that need it (`snapshot.damaged_reason`), until a later scrub finds it whole. `scrub_state`: each
 * region's scheduled pass — where it is (the last block hash checked, blocks in hash order), who runs it (a lease
 * renewed at each checkpoint, held by a worker's stable name so that it resumes its own pass after a restart; a pass in progress has `pass_started_at`) and the last finished pass's numbers. Views for dashboards.
 */
export class BlockScrubs1765600000000 implements MigrationInterface {
  name = 'BlockScrubs1765600000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE block ADD COLUMN damaged_reason text, ADD COLUMN damaged_at timestamptz;
      CREATE INDEX block_damaged ON block (region) WHERE damaged_reason IS NOT NULL;
      ALTER TABLE snapshot ADD COLUMN damaged_reason text, ADD COLUMN damaged_at timestamptz;
      CREATE INDEX snapshot_damaged ON snapshot (region) WHERE damaged_reason IS NOT NULL;

      CREATE TABLE scrub_state (
        region text PRIMARY KEY REFERENCES region (name),
        cursor bytea,
        pass_started_at timestamptz,
        pass_blocks bigint NOT NULL DEFAULT 0,
        pass_bytes bigint NOT NULL DEFAULT 0,
        pass_repaired integer NOT NULL DEFAULT 0,
        pass_damaged integer NOT NULL DEFAULT 0,
        owner text,
        lease_until timestamptz,
        last_finished_at timestamptz,
        last_pass jsonb
      );

      CREATE VIEW island_damaged_snapshots AS
      SELECT s.id AS snapshot_id, s.project_id, s.volume_id, s.region, s.seq, s.status, s.damaged_reason,
             s.damaged_at, extract(epoch FROM now() - s.damaged_at)::bigint AS damaged_seconds
        FROM snapshot s WHERE s.damaged_reason IS NOT NULL AND s.status <> 'deleted';

      CREATE VIEW island_scrub AS
      SELECT r.name AS region,
             st.pass_started_at, st.last_finished_at,
             CASE WHEN st.cursor IS NULL THEN NULL
                  ELSE round(('x' || encode(substring(st.cursor FROM 1 FOR 4), 'hex'))::bit(32)::bigint / 4294967296.0, 4) END AS pass_progress,
             coalesce(st.pass_blocks, 0) AS pass_blocks, coalesce(st.pass_bytes, 0) AS pass_bytes,
             coalesce(st.pass_repaired, 0) AS pass_repaired, coalesce(st.pass_damaged, 0) AS pass_damaged,
             (SELECT count(*) FROM block b WHERE b.region = r.name AND b.damaged_reason IS NOT NULL) AS damaged_blocks,
             (SELECT count(*) FROM snapshot s WHERE s.region = r.name AND s.damaged_reason IS NOT NULL AND s.status <> 'deleted') AS damaged_snapshots,
             st.last_pass
        FROM region r LEFT JOIN scrub_state st ON st.region = r.name;
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP VIEW island_scrub;
      DROP VIEW island_damaged_snapshots;
      DROP TABLE scrub_state;
      DROP INDEX snapshot_damaged;
      ALTER TABLE snapshot DROP COLUMN damaged_reason, DROP COLUMN damaged_at;
      DROP INDEX block_damaged;
      ALTER TABLE block DROP COLUMN damaged_reason, DROP COLUMN damaged_at;
    `);
  }
}
