import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The block version indexes carry the columns the changed-blocks statement reads, so it runs on index-only scans:
 * the versions that start or end between two snapshots give their block index, and each such index's version at
 * either snapshot gives its hash, from index pages alone. Without them every changed block costs a heap page per
 * version (the old versions lie one to a page across a large volume's table), which a large volume's listing reads
 * from outside PostgreSQL's buffers; with them a changed block costs about one index leaf page.
 */
export class CoveringVersionIndexes1765700000000 implements MigrationInterface {
  name = 'CoveringVersionIndexes1765700000000';

  async up(q: QueryRunner): Promise<void> {
    await replace(q, 'block_version_index', `(volume_id, block_index, first_seq) INCLUDE (last_seq, hash)`);
    await replace(q, 'block_version_first', `(volume_id, first_seq) INCLUDE (block_index)`);
    await replace(q, 'block_version_last', `(volume_id, last_seq) INCLUDE (block_index) WHERE last_seq IS NOT NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await replace(q, 'block_version_index', `(volume_id, block_index, first_seq)`);
    await replace(q, 'block_version_first', `(volume_id, first_seq)`);
    await replace(q, 'block_version_last', `(volume_id, last_seq) WHERE last_seq IS NOT NULL`);
  }
}

/**
 * Builds the new index beside the old one, so the statements that use it always have one. A plain CREATE INDEX (a
 * migration runs in a transaction): writes to block_version wait while it builds, for a time that grows with the versions.
 */
async function replace(q: QueryRunner, name: string, definition: string): Promise<void> {
  await q.query(`CREATE INDEX ${name}_next ON block_version ${definition}`);
  await q.query(`DROP INDEX ${name}`);
  await q.query(`ALTER INDEX ${name}_next RENAME TO ${name}`);
}
