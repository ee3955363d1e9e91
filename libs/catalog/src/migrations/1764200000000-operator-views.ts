import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Stable views for operators' dashboards (docs/dashboards.md). Dashboards query these, never the tables:
 * the tables may change between versions, the views' columns only grow.
 */
export class OperatorViews1764200000000 implements MigrationInterface {
  name = 'OperatorViews1764200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE VIEW island_usage_by_project AS
      SELECT p.id AS project_id, r.name AS region,
             (SELECT count(*) FROM volume v WHERE v.project_id = p.id AND v.region = r.name AND v.status <> 'deleted') AS volumes,
             (SELECT coalesce(sum(v.size_bytes), 0) FROM volume v WHERE v.project_id = p.id AND v.region = r.name AND v.status <> 'deleted')::bigint AS volume_bytes,
             (SELECT count(*) FROM snapshot s WHERE s.project_id = p.id AND s.region = r.name AND s.status NOT IN ('deleted', 'error')) AS snapshots,
             (SELECT coalesce(sum(s.size_bytes), 0) FROM snapshot s WHERE s.project_id = p.id AND s.region = r.name AND s.status NOT IN ('deleted', 'error'))::bigint AS snapshot_logical_bytes,
             (SELECT coalesce(sum(s.bytes_stored), 0) FROM snapshot s WHERE s.project_id = p.id AND s.region = r.name AND s.status NOT IN ('deleted', 'error'))::bigint AS snapshot_uploaded_bytes
        FROM project p CROSS JOIN region r;

      CREATE VIEW island_snapshot_states AS
      SELECT region, status, count(*) AS snapshots,
             extract(epoch FROM now() - min(created_at))::bigint AS oldest_age_seconds,
             extract(epoch FROM now() - max(created_at))::bigint AS newest_age_seconds,
             extract(epoch FROM now() - min(updated_at))::bigint AS longest_in_state_seconds
        FROM snapshot WHERE status <> 'deleted'
       GROUP BY region, status;

      CREATE VIEW island_snapshot_ages AS
      SELECT s.id AS snapshot_id, s.project_id, s.volume_id, s.region, s.status, s.seq,
             extract(epoch FROM now() - s.created_at)::bigint AS age_seconds,
             extract(epoch FROM s.committed_at - s.created_at)::numeric(12, 3) AS seconds_to_available,
             s.size_bytes, s.bytes_changed, s.bytes_stored, s.blocks_uploaded, s.blocks_reused
        FROM snapshot s WHERE s.status <> 'deleted';

      CREATE VIEW island_storage_by_region AS
      SELECT r.name AS region,
             count(b.hash) FILTER (WHERE b.state = 'present') AS blocks,
             coalesce(sum(b.stored_size) FILTER (WHERE b.state = 'present'), 0)::bigint AS stored_bytes,
             coalesce(sum(b.size) FILTER (WHERE b.refcount > 0), 0)::bigint AS unique_bytes,
             coalesce(sum(b.size::bigint * b.refcount), 0)::bigint AS referenced_bytes,
             (SELECT coalesce(sum(s.size_bytes), 0) FROM snapshot s WHERE s.region = r.name AND s.status IN ('sealing', 'available'))::bigint AS snapshot_logical_bytes,
             round(coalesce(sum(b.size::bigint * b.refcount), 0)::numeric / nullif(sum(b.size) FILTER (WHERE b.refcount > 0), 0), 3) AS dedup_ratio,
             round(coalesce(sum(b.size) FILTER (WHERE b.state = 'present'), 0)::numeric / nullif(sum(b.stored_size) FILTER (WHERE b.state = 'present'), 0), 3) AS compression_ratio
        FROM region r LEFT JOIN block b ON b.region = r.name
       GROUP BY r.name;

      CREATE VIEW island_gc_backlog AS
      SELECT r.name AS region,
             count(b.hash) FILTER (WHERE b.refcount = 0 AND b.pending = 0 AND b.state <> 'deleting') AS unreferenced_blocks,
             coalesce(sum(b.stored_size) FILTER (WHERE b.refcount = 0 AND b.pending = 0 AND b.state <> 'deleting'), 0)::bigint AS unreferenced_bytes,
             coalesce(extract(epoch FROM now() - min(b.zero_since)), 0)::bigint AS oldest_unreferenced_seconds,
             count(b.hash) FILTER (WHERE b.state = 'deleting') AS deleting_blocks,
             count(b.hash) FILTER (WHERE b.pending > 0) AS claimed_blocks,
             (SELECT count(*) FROM snapshot s WHERE s.region = r.name AND s.status = 'deleted' AND s.manifest_object IS NOT NULL) AS manifests_to_delete
        FROM region r LEFT JOIN block b ON b.region = r.name
       GROUP BY r.name;

      CREATE VIEW island_operations AS
      SELECT kind, status, count(*) AS operations,
             round(avg(extract(epoch FROM finished_at - created_at))::numeric, 3) AS avg_seconds,
             max(created_at) AS last_started_at
        FROM job WHERE created_at > now() - interval '1 day'
       GROUP BY kind, status;
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP VIEW island_operations, island_gc_backlog, island_storage_by_region, island_snapshot_ages,
        island_snapshot_states, island_usage_by_project;
    `);
  }
}
