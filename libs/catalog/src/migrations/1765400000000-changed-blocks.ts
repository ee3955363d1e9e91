import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Changed blocks between two snapshots of a volume come from the versions that start or end between their sequence
 * numbers. `block_version_first` finds those that start; this finds those that end, so the query reads only what
 * changed, never the whole volume.
 */
export class ChangedBlocks1765400000000 implements MigrationInterface {
  name = 'ChangedBlocks1765400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX block_version_last ON block_version (volume_id, last_seq) WHERE last_seq IS NOT NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX block_version_last`);
  }
}
