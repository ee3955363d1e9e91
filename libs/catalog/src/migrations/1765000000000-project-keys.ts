import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Each project's master key, only as wrapped by a key-encryption key (which lives in a key manager, never here):
 * `kek_id` names the KEK, so a rotation finds what it must re-wrap; `shredded_at` marks a key deleted on purpose
 * (its project's snapshots can no longer be read).
 */
export class ProjectKeys1765000000000 implements MigrationInterface {
  name = 'ProjectKeys1765000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE project_key (
        project_id text PRIMARY KEY REFERENCES project(id),
        kek_id text NOT NULL,
        wrapped jsonb,
        created_at timestamptz NOT NULL DEFAULT now(),
        rotated_at timestamptz,
        shredded_at timestamptz,
        CHECK ((wrapped IS NULL) = (shredded_at IS NOT NULL))
      );
      CREATE INDEX project_key_kek ON project_key (kek_id) WHERE shredded_at IS NULL;
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE project_key`);
  }
}
