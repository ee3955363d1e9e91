import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Connections Cinder hands out: an export of kind 'raw' serves the image through the host's
 * qemu-storage-daemon as a file of its raw bytes (a FUSE export at `raw_path`); 'block' also puts a loop block
 * device (`block_device`) over that file, which Nova's libvirt driver takes for a `local` volume. `managed_by` 'cinder': created through Cinder's RPC
 * (Cinder's pool statistics count only those); null: through island's own API.
 */
export class CinderConnections1764500000000 implements MigrationInterface {
  name = 'CinderConnections1764500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE volume DROP CONSTRAINT IF EXISTS volume_export_kind_check;
      ALTER TABLE volume ADD CONSTRAINT volume_export_kind_check CHECK (export_kind IN ('nbd', 'raw', 'block'));
      ALTER TABLE volume ADD COLUMN raw_path text;
      ALTER TABLE volume ADD COLUMN block_device text;
      ALTER TABLE volume ADD COLUMN managed_by text CHECK (managed_by IN ('cinder'));
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE volume DROP COLUMN managed_by;
      ALTER TABLE volume DROP COLUMN block_device;
      ALTER TABLE volume DROP COLUMN raw_path;
      ALTER TABLE volume DROP CONSTRAINT volume_export_kind_check;
      ALTER TABLE volume ADD CONSTRAINT volume_export_kind_check CHECK (export_kind IN ('nbd'));
    `);
  }
}
