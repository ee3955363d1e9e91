import { createHash, randomUUID } from 'node:crypto';
import { QueryRunner } from 'typeorm';
import { stagedChanges } from '../ledger/snapshot-changes';
import { sqlRows } from '../ledger/sql-rows';
import { createTestDatabase, TestDatabase } from '../testing/test-database';
import { RebuildScratch } from './rebuild-scratch';

const REGION = 'r1';
const hashOf = (name: string) => createHash('sha256').update(`scratch ${name}`).digest();
const [A, B, C, D, E] = ['a', 'b', 'c', 'd', 'e'].map(hashOf);

describe("a catalog rebuild's scratch tables", () => {
  let db: TestDatabase;
  let runner: QueryRunner;
  let scratch: RebuildScratch;

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.dataSource.query(`INSERT INTO project (id) VALUES ('p'); INSERT INTO region (name, container) VALUES ('${REGION}', 'c')`);
  });
  beforeEach(async () => {
    runner = db.dataSource.createQueryRunner();
    await runner.connect();
    scratch = new RebuildScratch(runner.manager);
    await scratch.create();
  });
  afterEach(async () => {
    await scratch.drop();
    await runner.release();
  });
  afterAll(async () => db?.drop());

  async function snapshotRow(): Promise<string> {
    const [volumeId, snapshotId] = [randomUUID(), randomUUID()];
    await db.dataSource.query(`INSERT INTO volume (id, project_id, region, size_bytes, block_size, status) VALUES ($1, 'p', $2, 4096, 1024, 'available')`, [
      volumeId,
      REGION,
    ]);
    await db.dataSource.query(
      `INSERT INTO snapshot (id, volume_id, project_id, region, seq, status, size_bytes, block_size) VALUES ($1, $2, 'p', $3, 1, 'uploading', 4096, 1024)`,
      [snapshotId, volumeId, REGION],
    );
    return snapshotId;
  }

  const staged = async (snapshotId: string) =>
    (
      await sqlRows<{ block_index: string; hash: Buffer | null }>(
        db.dataSource.manager,
        `SELECT c.block_index, c.hash FROM ${stagedChanges('$1')} c ORDER BY 1`,
        [snapshotId],
      )
    ).map((r) => [Number(r.block_index), r.hash && r.hash.toString('hex')]);

  const map = async (entries: [number, Buffer][]) => {
    await scratch.startMap();
    await scratch.addToMap(entries.map(([index, hash]) => ({ index, hash })));
    await scratch.mapLoaded();
  };

  it("counts the map's entries Swift does not list, and gives rows only to listed blocks the catalog does not know, sized by their place", async () => {
    await scratch.addListedBlocks([
      { hash: A, storedSize: 1100 },
      { hash: B, storedSize: 1200 },
    ]);
    await scratch.addListedBlocks([{ hash: C, storedSize: 130 }]);
    await scratch.listingLoaded();
    await db.dataSource.query(`INSERT INTO block (region, hash, size, stored_size, state, project_id) VALUES ($1, $2, 1024, 999, 'present', 'p')`, [REGION, B]);
    // four blocks of 1024 bytes and a last one of 100 (C's); A twice, D never stored
    await scratch.startVolume();
    await map([
      [0, A],
      [1, B],
      [2, D],
      [3, A],
      [4, C],
    ]);

    expect(await scratch.missingBlocks()).toBe(1);
    expect(await scratch.restorePresentBlocks(REGION, 'p', { blockSize: 1024, volumeSize: 4 * 1024 + 100 })).toBe(2);
    const rows = await sqlRows<{ hash: Buffer; size: number; stored_size: number; state: string; project_id: string }>(
      db.dataSource.manager,
      `SELECT hash, size, stored_size, state, project_id FROM block WHERE region = $1 ORDER BY size`,
      [REGION],
    );
    expect(rows.map((r) => [r.hash.toString('hex'), r.size, Number(r.stored_size), r.state, r.project_id])).toEqual(
      expect.arrayContaining([
        [C.toString('hex'), 100, 130, 'present', 'p'],
        [A.toString('hex'), 1024, 1100, 'present', 'p'],
        [B.toString('hex'), 1024, 999, 'present', 'p'], // known already: left as it was
      ]),
    );
    expect(rows).toHaveLength(3); // D has no row
    await db.dataSource.query(`DELETE FROM block WHERE region = $1`, [REGION]);
  });

  it("stages a snapshot's change against the map kept before it — changed, new and holed blocks — and a copy's whole map", async () => {
    await scratch.startVolume();
    await map([
      [0, A],
      [1, B],
      [2, C],
    ]);
    const first = await snapshotRow();
    await scratch.stageMap(first, 'change');
    expect(await staged(first)).toEqual([
      [0, A.toString('hex')],
      [1, B.toString('hex')],
      [2, C.toString('hex')],
    ]);
    scratch.keepMapAsPrevious();

    // a map read but not kept (an incomplete snapshot) does not become the one the next change is taken against
    await map([[0, E]]);
    await map([
      [0, A],
      [1, D],
      [3, E],
    ]);
    const second = await snapshotRow();
    await scratch.stageMap(second, 'change');
    expect(await staged(second)).toEqual([
      [1, D.toString('hex')],
      [2, null],
      [3, E.toString('hex')],
    ]);
    const copy = await snapshotRow();
    await scratch.stageMap(copy, 'whole');
    expect(await staged(copy)).toEqual([
      [0, A.toString('hex')],
      [1, D.toString('hex')],
      [3, E.toString('hex')],
    ]);
    scratch.keepMapAsPrevious();

    // the next volume starts from nothing
    await scratch.startVolume();
    await map([[0, A]]);
    const next = await snapshotRow();
    await scratch.stageMap(next, 'change');
    expect(await staged(next)).toEqual([[0, A.toString('hex')]]);
  });

  it('gives the listed volumes one at a time in id order, each with its manifests in sequence order, and counts them', async () => {
    const [v1, v2] = ['11111111-0000-4000-8000-000000000000', '22222222-0000-4000-8000-000000000000'];
    const name = (v: string, seq: number) => `manifests/${v}/${String(seq).padStart(10, '0')}-s${seq}`;
    // in any order, over pages
    await scratch.addListedManifests([
      { volumeId: v2, seq: 10, name: name(v2, 10) },
      { volumeId: v1, seq: 2, name: name(v1, 2) },
    ]);
    await scratch.addListedManifests([
      { volumeId: v2, seq: 9, name: name(v2, 9) },
      { volumeId: v1, seq: 1, name: name(v1, 1) },
    ]);

    expect(await scratch.listedVolumeCount()).toBe(2);
    const first = await scratch.nextListedVolume(null);
    expect(first).toEqual({
      volumeId: v1,
      manifests: [
        { seq: 1, name: name(v1, 1) },
        { seq: 2, name: name(v1, 2) },
      ],
    });
    const second = await scratch.nextListedVolume(v1);
    expect(second?.manifests.map((m) => m.seq)).toEqual([9, 10]);
    expect(await scratch.nextListedVolume(v2)).toBeUndefined();
  });

  it('keeps the later of two recycle-bin markers for one snapshot, within a page of the listing and across pages', async () => {
    const at = (s: number) => new Date(Date.UTC(2026, 11, 6, 0, 0, s));
    await scratch.addRecycleMarkers([
      { snapshotId: 's1', name: 'recycle-bin/s1/10', purgeAfter: at(10) },
      { snapshotId: 's1', name: 'recycle-bin/s1/20', purgeAfter: at(20) },
      { snapshotId: 's2', name: 'recycle-bin/s2/30', purgeAfter: at(30) },
    ]);
    await scratch.addRecycleMarkers([
      { snapshotId: 's2', name: 'recycle-bin/s2/5', purgeAfter: at(5) },
      { snapshotId: 's3', name: 'recycle-bin/s3/7', purgeAfter: at(7) },
    ]);
    await scratch.addRecycleMarkers([{ snapshotId: 's3', name: 'recycle-bin/s3/8', purgeAfter: at(8) }]);

    expect(await scratch.recycleMarker('s1')).toEqual({ snapshotId: 's1', name: 'recycle-bin/s1/20', purgeAfter: at(20) });
    expect(await scratch.recycleMarker('s2')).toEqual({ snapshotId: 's2', name: 'recycle-bin/s2/30', purgeAfter: at(30) });
    expect(await scratch.recycleMarker('s3')).toEqual({ snapshotId: 's3', name: 'recycle-bin/s3/8', purgeAfter: at(8) });
    expect(await scratch.recycleMarker('s4')).toBeUndefined();
  });

  it('belongs to its own connection: another session sees none of it, and drop removes it', async () => {
    await scratch.addListedBlocks([{ hash: A, storedSize: 1 }]);
    const other = db.dataSource.createQueryRunner();
    await other.connect();
    try {
      await expect(other.query(`SELECT count(*) FROM island_rebuild_stored`)).rejects.toThrow(/does not exist/);
    } finally {
      await other.release();
    }
    await scratch.drop();
    await expect(runner.query(`SELECT count(*) FROM island_rebuild_stored`)).rejects.toThrow(/does not exist/);
    await scratch.create(); // for afterEach
  });
});
