import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `kek_state`: the KEK new project keys must be wrapped by. A rotation changes it first (waiting for every key being
 * kept under the previous one), so no key can be kept under a KEK the rotation is about to retire.
 * `snapshot.manifest_sealed`: whether the snapshot's manifest was written sealed; a plain manifest found under its
 * name is then a replacement (Swift tampered with), refused. Existing manifests predate encryption: plain.
 */
export class KeyIntegrity1765200000000 implements MigrationInterface {
  name = 'KeyIntegrity1765200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE kek_state (
        id smallint PRIMARY KEY CHECK (id = 1),
        current_kek_id text NOT NULL,
        changed_at timestamptz NOT NULL DEFAULT now()
      );
      ALTER TABLE snapshot ADD COLUMN manifest_sealed boolean NOT NULL DEFAULT false;
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE snapshot DROP COLUMN manifest_sealed; DROP TABLE kek_state;`);
  }
}
