import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The recycle bin kept in Swift as well: `recycle_marker` names the marker object GC last wrote for a recycled
 * snapshot in its region's container (`recycle-bin/<snapshot>/<purge after, epoch seconds>`), so that a catalog
 * rebuild from Swift brings the snapshot back recycled, not available. The partial index holds only the rows GC
 * has to look at: snapshots in the bin and those whose marker is still in Swift.
 */
export class RecycleMarkers1765800000000 implements MigrationInterface {
  name = 'RecycleMarkers1765800000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE snapshot ADD COLUMN recycle_marker text;
      CREATE INDEX snapshot_recycle_marker ON snapshot (region, id) WHERE status = 'recycled' OR recycle_marker IS NOT NULL;
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP INDEX snapshot_recycle_marker;
      ALTER TABLE snapshot DROP COLUMN recycle_marker;
    `);
  }
}
