import { EntityNotFoundError } from 'typeorm';
import { JobEntity } from '../entities/job.entity';
import { SnapshotEntity } from '../entities/snapshot.entity';
import { VolumeEntity } from '../entities/volume.entity';
import { LedgerFixture } from '../testing/ledger-fixture';
import { entityByKey, existingEntityByKey, patchByKey } from './entity-by-key';
import { JobRepository } from './job.repository';

describe('an entity found by its key with a prepared statement', () => {
  let f: LedgerFixture;

  beforeAll(async () => {
    f = await LedgerFixture.create();
  });
  afterAll(() => f?.drop());

  it('is the entity TypeORM finds, whatever its columns hold: big numbers, JSON, times, flags and nulls', async () => {
    const region = await f.newRegion();
    const id = await f.uploadingSnapshot(region);
    await f.sql(
      `UPDATE snapshot SET size_bytes = 4398046511104, bytes_uploaded = 9007199254740991, manifest_sealed = true,
              copy_transfer = '{"entries": 3, "distinctBlocks": 2, "batches": 1}', damaged_at = '2026-12-05T10:00:00.123Z',
              damaged_reason = 'one block failed its check', point_in_time = NULL WHERE id = $1`,
      [id],
    );
    const found = await f.tx((m) => entityByKey(m, SnapshotEntity, id, 'FOR NO KEY UPDATE'));
    const typeorm = await f.dataSource.getRepository(SnapshotEntity).findOneByOrFail({ id });
    expect(found).toBeInstanceOf(SnapshotEntity);
    expect(found).toEqual(typeorm);
    expect(found).toMatchObject({ sizeBytes: 4398046511104, manifestSealed: true, copyTransfer: { entries: 3 }, pointInTime: null });
    expect(found?.damagedAt).toEqual(new Date('2026-12-05T10:00:00.123Z'));
  });

  it('is, read without a lock, the volume and the job TypeORM finds', async () => {
    const snapshot = await f.dataSource.getRepository(SnapshotEntity).findOneByOrFail({ id: await f.uploadingSnapshot(await f.newRegion()) });
    const m = f.dataSource.manager;
    expect(await entityByKey(m, VolumeEntity, snapshot.volumeId)).toEqual(await m.getRepository(VolumeEntity).findOneByOrFail({ id: snapshot.volumeId }));
    const job = await new JobRepository(m).start('snapshot', { type: 'snapshot', id: snapshot.id, projectId: 'p' }, {});
    const read = await entityByKey(m, JobEntity, job.id);
    expect(read).toBeInstanceOf(JobEntity);
    expect(read).toEqual(await m.getRepository(JobEntity).findOneByOrFail({ id: job.id }));
  });

  it("is null for a key no row has, or TypeORM's not-found error where the row must exist", async () => {
    const none = '00000000-0000-4000-8000-000000000000';
    expect(await f.tx((m) => entityByKey(m, VolumeEntity, none, 'FOR UPDATE'))).toBeNull();
    await expect(existingEntityByKey(f.dataSource.manager, SnapshotEntity, none)).rejects.toThrow(EntityNotFoundError);
  });

  it('holds its row lock until the transaction ends: another writer waits for it', async () => {
    const id = await f.uploadingSnapshot(await f.newRegion());
    const order: string[] = [];
    let other: Promise<unknown> = Promise.resolve();
    await f.tx(async (m) => {
      await entityByKey(m, SnapshotEntity, id, 'FOR UPDATE');
      other = f.sql(`UPDATE snapshot SET name = 'second' WHERE id = $1`, [id]).then(() => order.push('other writer'));
      await new Promise((r) => setTimeout(r, 300));
      order.push('lock holder commits');
      await m.query(`UPDATE snapshot SET name = 'first' WHERE id = $1`, [id]);
    });
    await other;
    expect(order).toEqual(['lock holder commits', 'other writer']);
    expect((await f.sql<{ name: string }>(`SELECT name FROM snapshot WHERE id = $1`, [id]))[0].name).toBe('second');
  });

  it("sets a row as TypeORM's update sets it, whatever kinds of values, and leaves the other columns be", async () => {
    const region = await f.newRegion();
    const [ours, theirs] = [await f.uploadingSnapshot(region), await f.uploadingSnapshot(region)];
    const m = f.dataSource.manager;
    const changes: Partial<SnapshotEntity>[] = [
      { status: 'available', statusReason: null, manifestObject: 'manifests/x', manifestSealed: true, committedAt: new Date('2026-12-05T10:00:00.5Z') },
      { bytesUploaded: 9007199254740991, copyTransfer: { entries: 3, distinctBlocks: 2, batches: 1 }, manifestSealed: false },
      { statusReason: 'held for a reason', damagedAt: null, bytesChanged: undefined },
    ];
    for (const fields of changes) {
      await patchByKey(m, SnapshotEntity, ours, fields);
      await m.update(SnapshotEntity, { id: theirs }, fields);
      const [a, b] = await Promise.all([ours, theirs].map((id) => m.getRepository(SnapshotEntity).findOneByOrFail({ id })));
      expect({ ...a, id: undefined, volumeId: undefined, createdAt: undefined, updatedAt: undefined }).toEqual({
        ...b,
        id: undefined,
        volumeId: undefined,
        createdAt: undefined,
        updatedAt: undefined,
      });
    }
    expect(await entityByKey(m, SnapshotEntity, ours)).toMatchObject({
      statusReason: 'held for a reason',
      manifestObject: 'manifests/x',
      bytesUploaded: 9007199254740991,
    });
  });

  it('refuses a field its entity has no column for, and changes nothing', async () => {
    const id = await f.uploadingSnapshot(await f.newRegion());
    const before = await entityByKey(f.dataSource.manager, SnapshotEntity, id);
    await expect(patchByKey(f.dataSource.manager, SnapshotEntity, id, { status: 'error', nonsense: 1 } as Partial<SnapshotEntity>)).rejects.toThrow(
      'snapshot has no column for nonsense',
    );
    expect(await entityByKey(f.dataSource.manager, SnapshotEntity, id)).toEqual(before);
  });
});
