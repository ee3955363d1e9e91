import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A region copy's "every block is there" report, kept on the copy until its last batch is counted: the report
 * and the batch counts are handled in whatever order they arrive, with no retry through the broker between them.
 */
export class CopyTransferReports1764900000000 implements MigrationInterface {
  name = 'CopyTransferReports1764900000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE snapshot ADD COLUMN copy_transfer jsonb`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE snapshot DROP COLUMN copy_transfer`);
  }
}
