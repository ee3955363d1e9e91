import { MigrationInterface, QueryRunner } from 'typeorm';

/** A project's own limits (null: the configured default, ISLAND_QUOTA_*); set by the admin. */
export class ProjectQuotas1764600000000 implements MigrationInterface {
  name = 'ProjectQuotas1764600000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE project ADD COLUMN quota_volumes integer CHECK (quota_volumes >= 0);
      ALTER TABLE project ADD COLUMN quota_snapshots integer CHECK (quota_snapshots >= 0);
      ALTER TABLE project ADD COLUMN quota_gigabytes integer CHECK (quota_gigabytes >= 0);
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE project DROP COLUMN quota_volumes, DROP COLUMN quota_snapshots, DROP COLUMN quota_gigabytes`);
  }
}
