import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A volume made from a snapshot and attached with an export is usable at once and fills from the snapshot in the
 * background: `fill_status` ('filling', 'failed'; null when its image is whole), bytes done of the total, and why a
 * failed fill stopped.
 */
export class LazyFills1765300000000 implements MigrationInterface {
  name = 'LazyFills1765300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE volume
        ADD COLUMN fill_status text CHECK (fill_status IN ('filling', 'failed')),
        ADD COLUMN fill_done bigint NOT NULL DEFAULT 0,
        ADD COLUMN fill_total bigint NOT NULL DEFAULT 0,
        ADD COLUMN fill_reason text;
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE volume DROP COLUMN fill_status, DROP COLUMN fill_done, DROP COLUMN fill_total, DROP COLUMN fill_reason;`);
  }
}
