import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * GC's fencing token on the blocks it marks (`deleting_by`: only the run holding the mark may forget them)
 * and the result report of operations that are not a volume's or snapshot's (GC runs, fsck, rebuilds).
 */
export class GcFencingAndJobResults1764100000000 implements MigrationInterface {
  name = 'GcFencingAndJobResults1764100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE block ADD COLUMN deleting_by uuid;
      ALTER TABLE job ADD COLUMN result jsonb;
      CREATE INDEX snapshot_deleted_manifests ON snapshot (region) WHERE status = 'deleted' AND manifest_object IS NOT NULL;
      CREATE INDEX block_claim_hash ON block_claim (region, hash);
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP INDEX block_claim_hash;
      DROP INDEX snapshot_deleted_manifests;
      ALTER TABLE job DROP COLUMN result;
      ALTER TABLE block DROP COLUMN deleting_by;
    `);
  }
}
