import { MigrationInterface, QueryRunner } from 'typeorm';
import { replaceIndex } from './replace-index';

/**
 * A project's volumes and snapshots are listed a page at a time, in creation order from the previous page's last
 * row: the project indexes carry that order, so a page reads its own rows from the index whatever the project holds.
 */
export class ListPageIndexes1766000000000 implements MigrationInterface {
  name = 'ListPageIndexes1766000000000';

  async up(q: QueryRunner): Promise<void> {
    await replaceIndex(q, 'volume', 'volume_project', '(project_id, created_at, id) WHERE deleted_at IS NULL');
    await replaceIndex(q, 'snapshot', 'snapshot_project', '(project_id, created_at, seq, id) WHERE deleted_at IS NULL');
  }

  async down(q: QueryRunner): Promise<void> {
    await replaceIndex(q, 'volume', 'volume_project', '(project_id) WHERE deleted_at IS NULL');
    await replaceIndex(q, 'snapshot', 'snapshot_project', '(project_id) WHERE deleted_at IS NULL');
  }
}
