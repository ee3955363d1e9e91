import { createHash, randomUUID } from 'node:crypto';
import { createTestDatabase, TestDatabase } from '../testing/test-database';
import { SnapshotUploadRepository } from '../repositories/snapshot-upload.repository';
import { MAX_STAGED_BATCH_ENTRIES, stageBlockMapFrom, stagedChanges, stageSnapshotChanges } from './snapshot-changes';
import { sqlRows } from './sql-rows';

const hashOf = (content: number) => createHash('sha256').update(`staged-${content}`).digest();

describe('staged block maps', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.dataSource.query(`INSERT INTO project (id) VALUES ('p'); INSERT INTO region (name, container) VALUES ('r1', 'c')`);
  });
  afterAll(async () => db?.drop());

  async function uploadingSnapshot(): Promise<string> {
    const [volumeId, snapshotId] = [randomUUID(), randomUUID()];
    await db.dataSource.query(
      `INSERT INTO volume (id, project_id, region, size_bytes, block_size, status) VALUES ($1, 'p', 'r1', 1048576, 65536, 'available')`,
      [volumeId],
    );
    await db.dataSource.query(
      `INSERT INTO snapshot (id, volume_id, project_id, region, seq, status, size_bytes, block_size) VALUES ($1, $2, 'p', 'r1', 1, 'uploading', 1048576, 65536)`,
      [snapshotId, volumeId],
    );
    return snapshotId;
  }

  const staged = (snapshotId: string) =>
    sqlRows<{ block_index: string; hash: Buffer | null }>(db.dataSource.manager, `SELECT c.block_index, c.hash FROM ${stagedChanges('$1')} c ORDER BY 1`, [
      snapshotId,
    ]);
  const uploads = () => new SnapshotUploadRepository(db.dataSource.manager);

  it('keeps a batch as first staged: staging it again (a redelivered report, a resumed copy) stores nothing twice', async () => {
    const s = await uploadingSnapshot();
    await stageSnapshotChanges(db.dataSource.manager, s, 0, [0, 1], [hashOf(1), null]);
    await stageSnapshotChanges(db.dataSource.manager, s, 1, [5], [hashOf(5)]);
    await stageSnapshotChanges(db.dataSource.manager, s, 0, [0, 1], [hashOf(1), null]);

    expect(await staged(s)).toEqual([
      { block_index: '0', hash: hashOf(1) },
      { block_index: '1', hash: null },
      { block_index: '5', hash: hashOf(5) },
    ]);
    expect(await uploads().countStaged(s)).toBe(3);
    expect(await uploads().countStagedDistinct(s)).toBe(2);
    await uploads().dropStaged(s);
    expect(await uploads().countStaged(s)).toBe(0);
  });

  it('stages a block map the database holds, larger than a batch, in consecutive batches in block order, every entry once', async () => {
    const s = await uploadingSnapshot();
    const count = MAX_STAGED_BATCH_ENTRIES + 10;
    // generated in reverse order, every 5th block a hole: the batches come out in block order all the same
    await stageBlockMapFrom(
      db.dataSource.manager,
      s,
      `SELECT i::bigint AS block_index, CASE WHEN i % 5 = 4 THEN NULL ELSE sha256(('staged-' || (i % 7))::bytea) END AS hash
         FROM generate_series(${count - 1}, 0, -1) AS i`,
    );

    const batches = await sqlRows<{ batch: number; n: number; first: string; last: string }>(
      db.dataSource.manager,
      `SELECT batch, cardinality(indexes) AS n, indexes[1] AS first, indexes[cardinality(indexes)] AS last
         FROM snapshot_change_batch WHERE snapshot_id = $1 ORDER BY batch`,
      [s],
    );
    expect(batches).toEqual([
      { batch: 0, n: MAX_STAGED_BATCH_ENTRIES, first: '0', last: String(MAX_STAGED_BATCH_ENTRIES - 1) },
      { batch: 1, n: 10, first: String(MAX_STAGED_BATCH_ENTRIES), last: String(count - 1) },
    ]);
    expect(await uploads().countStaged(s)).toBe(count);
    expect(await uploads().countStagedDistinct(s)).toBe(7);
    const sample = await staged(s);
    expect(sample[3]).toEqual({ block_index: '3', hash: hashOf(3) });
    expect(sample[4]).toEqual({ block_index: '4', hash: null });
    expect(sample[count - 1]).toEqual({ block_index: String(count - 1), hash: (count - 1) % 5 === 4 ? null : hashOf((count - 1) % 7) });
  });

  it('refuses a batch whose indexes and hashes differ in number, or larger than a batch may be, staging nothing', async () => {
    const s = await uploadingSnapshot();
    await expect(stageSnapshotChanges(db.dataSource.manager, s, 0, [0, 1], [hashOf(0)])).rejects.toThrow('staging 2 block indexes with 1 hashes');
    const tooMany = Array.from({ length: MAX_STAGED_BATCH_ENTRIES + 1 }, (_, i) => i);
    await expect(
      stageSnapshotChanges(
        db.dataSource.manager,
        s,
        0,
        tooMany,
        tooMany.map(() => null),
      ),
    ).rejects.toThrow(`staging ${MAX_STAGED_BATCH_ENTRIES + 1} block entries in one batch`);
    expect(await uploads().countStaged(s)).toBe(0);
  });

  it("moves staged block maps back on a downgrade; on the upgrade keeps an upload's beside its parts still to come, and drops a copy's", async () => {
    const [upload, copy] = [await uploadingSnapshot(), await uploadingSnapshot()];
    await db.dataSource.query(`UPDATE snapshot SET copy_of = $2 WHERE id = $1`, [copy, randomUUID()]);
    await stageSnapshotChanges(db.dataSource.manager, upload, 1, [7], [hashOf(7)]);
    // back to the catalog before batches (later migrations undone first, all of them run again below)
    for (let last = ''; last !== 'StagedChangeBatches1765900000000';) {
      [{ name: last }] = await sqlRows<{ name: string }>(db.dataSource.manager, `SELECT name FROM catalog_migrations ORDER BY id DESC LIMIT 1`);
      await db.dataSource.undoLastMigration();
    }
    expect(await sqlRows(db.dataSource.manager, `SELECT block_index, hash FROM snapshot_change WHERE snapshot_id = $1`, [upload])).toEqual([
      { block_index: '7', hash: hashOf(7) },
    ]);
    await db.dataSource.query(`INSERT INTO snapshot_change (snapshot_id, block_index, hash) VALUES ($1, 3, NULL), ($2, 4, $3)`, [upload, copy, hashOf(4)]);
    await db.dataSource.runMigrations();

    // part 0, reported after the upgrade, is staged beside what parts 1 and 2 staged before it
    await stageSnapshotChanges(db.dataSource.manager, upload, 0, [0], [hashOf(0)]);
    expect(await staged(upload)).toEqual([
      { block_index: '0', hash: hashOf(0) },
      { block_index: '3', hash: null },
      { block_index: '7', hash: hashOf(7) },
    ]);
    expect(await uploads().countStaged(upload)).toBe(3);
    expect(await uploads().countStaged(copy)).toBe(0);
  });
});
