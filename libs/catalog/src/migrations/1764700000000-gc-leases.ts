import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * GC runs hold their marks under a lease (`gc_lease`): renewed by the run's heartbeats, and tied to the run's own
 * catalog session by an advisory lock on its id, so another run can tell a dead holder from a stalled one
 * (ARCHITECTURE.md, "Fencing"). A block's `deleting_by` is the token of the lease holding its mark.
 */
export class GcLeases1764700000000 implements MigrationInterface {
  name = 'GcLeases1764700000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE gc_lease (
        id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        token uuid NOT NULL UNIQUE,
        region text NOT NULL REFERENCES region(name),
        holder text NOT NULL,
        lease_until timestamptz NOT NULL,
        started_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX block_deleting_by ON block (deleting_by) WHERE state = 'deleting';
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP INDEX block_deleting_by;
      DROP TABLE gc_lease;
    `);
  }
}
