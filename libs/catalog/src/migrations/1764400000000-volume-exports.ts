import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Attaching with an export: the host's qemu-storage-daemon serves the image (`export_kind` 'nbd'), and
 * the VM connects to `nbd_uri`. Both null in file mode.
 */
export class VolumeExports1764400000000 implements MigrationInterface {
  name = 'VolumeExports1764400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE volume ADD COLUMN export_kind text CHECK (export_kind IN ('nbd'));
      ALTER TABLE volume ADD COLUMN nbd_uri text;
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE volume DROP COLUMN nbd_uri;
      ALTER TABLE volume DROP COLUMN export_kind;
    `);
  }
}
