import { MigrationInterface, QueryRunner } from 'typeorm';
import { replaceIndex } from './replace-index';

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
    await replaceIndex(q, 'block_version', 'block_version_index', `(volume_id, block_index, first_seq) INCLUDE (last_seq, hash)`);
    await replaceIndex(q, 'block_version', 'block_version_first', `(volume_id, first_seq) INCLUDE (block_index)`);
    await replaceIndex(q, 'block_version', 'block_version_last', `(volume_id, last_seq) INCLUDE (block_index) WHERE last_seq IS NOT NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await replaceIndex(q, 'block_version', 'block_version_index', `(volume_id, block_index, first_seq)`);
    await replaceIndex(q, 'block_version', 'block_version_first', `(volume_id, first_seq)`);
    await replaceIndex(q, 'block_version', 'block_version_last', `(volume_id, last_seq) WHERE last_seq IS NOT NULL`);
  }
}
