import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A snapshot's block map is staged for its commit a batch to a row (`snapshot_change_batch`: a part's changes, a page
 * of a copied manifest) instead of a row per block: staging and dropping a part of 128 blocks wrote 256 rows, with an
 * index entry and a foreign-key check each, where it now writes two. A batch is keyed by its stager's own number (the
 * part, the manifest page, the slice), so that staging it again stores nothing.
 *
 * Changes staged before the upgrade: an upload's (the parts reported so far) move over as batch -1, a number no stager
 * uses, so that its parts still to come (batches 0, 1, …, disjoint blocks) are all kept. A region copy's are dropped:
 * a copy stages its manifest's pages again when it resumes, and would stage them beside a batch holding the same blocks.
 */
export class StagedChangeBatches1765900000000 implements MigrationInterface {
  name = 'StagedChangeBatches1765900000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE snapshot_change_batch (
        snapshot_id uuid NOT NULL REFERENCES snapshot(id),
        batch integer NOT NULL CHECK (batch >= -1),
        indexes bigint[] NOT NULL,
        hashes bytea[] NOT NULL,
        CHECK (cardinality(indexes) = cardinality(hashes)),
        PRIMARY KEY (snapshot_id, batch)
      );
      INSERT INTO snapshot_change_batch (snapshot_id, batch, indexes, hashes)
      SELECT c.snapshot_id, -1, array_agg(c.block_index ORDER BY c.block_index), array_agg(c.hash ORDER BY c.block_index)
        FROM snapshot_change c JOIN snapshot s ON s.id = c.snapshot_id
       WHERE s.copy_of IS NULL
       GROUP BY c.snapshot_id;
      DROP TABLE snapshot_change;
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE snapshot_change (
        snapshot_id uuid NOT NULL REFERENCES snapshot(id),
        block_index bigint NOT NULL,
        hash bytea,
        PRIMARY KEY (snapshot_id, block_index)
      );
      INSERT INTO snapshot_change (snapshot_id, block_index, hash)
      SELECT b.snapshot_id, c.block_index, c.hash FROM snapshot_change_batch b, unnest(b.indexes, b.hashes) AS c(block_index, hash)
          ON CONFLICT DO NOTHING;
      DROP TABLE snapshot_change_batch;
    `);
  }
}
