import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The project whose key seals a block (sealed blocks are named by that project's keyed hash, so a name belongs to one
 * project): fsck opens the block with that key to verify it. NULL for blocks stored before encryption (plain,
 * named by their SHA-256, possibly shared by projects).
 */
export class BlockProjects1765100000000 implements MigrationInterface {
  name = 'BlockProjects1765100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE block ADD COLUMN project_id text`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE block DROP COLUMN project_id`);
  }
}
