import { createHash, randomUUID } from 'node:crypto';
import { createTestDatabase, TestDatabase } from '../testing/test-database';
import { AUDIT_WORK_MEM, referenceDiscrepancies, repairReferenceCounts } from './reference-audit';

const REGION = 'r1';
const OTHER_REGION = 'r2';
const hashOf = (name: string) => createHash('sha256').update(name).digest();

describe('reference audit (fsck counts)', () => {
  let db: TestDatabase;
  const h = {
    right: hashOf('right'),
    overCounted: hashOf('over-counted'),
    noRow: hashOf('no-row'),
    claimUncounted: hashOf('claim-uncounted'),
    referencedUploading: hashOf('referenced-uploading'),
    unreferenced: hashOf('unreferenced'),
    otherRegion: hashOf('other-region'),
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    const q = (text: string, params: unknown[] = []) => db.dataSource.query(text, params);
    await q(`INSERT INTO project (id) VALUES ('p'); INSERT INTO region (name, container) VALUES ('${REGION}', 'c'), ('${OTHER_REGION}', 'c')`);
    const volume = randomUUID();
    const other = randomUUID();
    const snapshot = randomUUID();
    for (const [id, region] of [
      [volume, REGION],
      [other, OTHER_REGION],
    ]) {
      await q(`INSERT INTO volume (id, project_id, region, size_bytes, block_size, status) VALUES ($1, 'p', $2, 1048576, 65536, 'available')`, [id, region]);
    }
    await q(
      `INSERT INTO snapshot (id, volume_id, project_id, region, seq, status, size_bytes, block_size) VALUES ($1, $2, 'p', $3, 1, 'uploading', 1048576, 65536)`,
      [snapshot, volume, REGION],
    );
    const block = (hash: Buffer, state: string, refcount: number, pending: number, region = REGION) =>
      q(`INSERT INTO block (region, hash, size, state, refcount, pending) VALUES ($1, $2, 65536, $3, $4, $5)`, [region, hash, state, refcount, pending]);
    await block(h.right, 'present', 1, 0);
    await block(h.overCounted, 'present', 2, 0);
    await block(h.claimUncounted, 'uploading', 0, 0);
    await block(h.referencedUploading, 'uploading', 1, 0);
    await block(h.unreferenced, 'present', 0, 0);
    await block(h.otherRegion, 'present', 0, 0, OTHER_REGION);
    const version = (volumeId: string, index: number, hash: Buffer) =>
      q(`INSERT INTO block_version (volume_id, block_index, hash, first_seq) VALUES ($1, $2, $3, 1)`, [volumeId, index, hash]);
    await version(volume, 0, h.right);
    await version(volume, 1, h.overCounted);
    await version(volume, 2, h.noRow);
    await version(volume, 3, h.referencedUploading);
    // the other region's version references a hash this region also has: it must not count here
    await version(other, 0, h.right);
    await q(`INSERT INTO block_claim (snapshot_id, region, hash) VALUES ($1, $2, $3)`, [snapshot, REGION, h.claimUncounted]);
  });
  afterAll(async () => db?.drop());

  const found = async () => (await referenceDiscrepancies(db.dataSource.manager, REGION)).map((d) => ({ ...d, hash: d.hash.toString('hex') }));
  const sortedByHash = <T extends { hash: string }>(rows: T[]) => [...rows].sort((a, b) => a.hash.localeCompare(b.hash));

  it('finds every block whose counters or state disagree with the versions and claims of its region, in hash order', async () => {
    expect(await found()).toEqual(
      sortedByHash([
        { hash: h.overCounted.toString('hex'), state: 'present', refcount: 2, pending: 0, expectedRefcount: 1, expectedPending: 0 },
        { hash: h.noRow.toString('hex'), state: null, refcount: 0, pending: 0, expectedRefcount: 1, expectedPending: 0 },
        { hash: h.claimUncounted.toString('hex'), state: 'uploading', refcount: 0, pending: 0, expectedRefcount: 0, expectedPending: 1 },
        { hash: h.referencedUploading.toString('hex'), state: 'uploading', refcount: 1, pending: 0, expectedRefcount: 1, expectedPending: 0 },
      ]),
    );
  });

  it("leaves the work_mem of the session it ran on as it found it, inside a caller's transaction or not", async () => {
    const runner = db.dataSource.createQueryRunner();
    try {
      const before = (await runner.query(`SHOW work_mem`))[0].work_mem;
      expect(before).not.toBe(AUDIT_WORK_MEM);
      await referenceDiscrepancies(runner.manager, REGION);
      expect((await runner.query(`SHOW work_mem`))[0].work_mem).toBe(before);
      await runner.startTransaction();
      await referenceDiscrepancies(runner.manager, REGION);
      // inside a caller's transaction the audit runs in a savepoint: its setting ends with that transaction
      await runner.rollbackTransaction();
      expect((await runner.query(`SHOW work_mem`))[0].work_mem).toBe(before);
    } finally {
      await runner.release();
    }
  });

  it('repairs the counters of the blocks it is given and leaves what counters cannot fix', async () => {
    const repaired = await db.dataSource.transaction('REPEATABLE READ', (m) => repairReferenceCounts(m, REGION, [h.overCounted, h.claimUncounted]));
    expect(repaired).toBe(2);
    expect((await found()).map((d) => d.hash)).toEqual(
      sortedByHash([{ hash: h.noRow.toString('hex') }, { hash: h.referencedUploading.toString('hex') }]).map((d) => d.hash),
    );
  });
});
