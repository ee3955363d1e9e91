import { PointsInTimeRelease, SnapshotTake, SnapshotTakeGroup } from '@island/contracts';
import { CatalogFixture, HOST } from '../state-machines/testing/catalog-fixture';
import { OutboxRelay } from './outbox-relay.service';
import { UnitOfWork } from './unit-of-work';

describe('a unit of work (on the real catalog)', () => {
  let f: CatalogFixture;
  let kicks: number;
  let uow: UnitOfWork;

  beforeAll(async () => {
    f = await CatalogFixture.create();
    uow = new UnitOfWork(f.db.dataSource, { kick: () => void kicks++ } as unknown as OutboxRelay);
  });
  afterAll(() => f?.drop());
  beforeEach(async () => {
    kicks = 0;
    await f.clearOutbox();
  });

  it('wakes the outbox relay after a transaction that wrote a message, and commits the message with it', async () => {
    const volume = await f.placedVolume();
    await uow.run((tx) => tx.send(PointsInTimeRelease, { host: HOST, volumeId: volume.id, path: volume.imagePath!, drop: ['island-1'] }));
    expect(kicks).toBe(1);
    expect(await f.sent(PointsInTimeRelease)).toEqual([expect.objectContaining({ volumeId: volume.id, drop: ['island-1'] })]);
  });

  it('leaves the relay asleep after a transaction that wrote no message: it would find nothing to publish', async () => {
    const volume = await f.placedVolume();
    const name = await uow.run(async ({ catalog }) => (await catalog.volumes.get(volume.id)).name);
    expect(name).toBe('v');
    expect(kicks).toBe(0);
  });

  it('neither commits a message nor wakes the relay when the transaction fails', async () => {
    const volume = await f.placedVolume();
    await expect(
      uow.run(async (tx) => {
        await tx.send(PointsInTimeRelease, { host: HOST, volumeId: volume.id, path: volume.imagePath!, drop: ['island-2'] });
        throw new Error('the step failed');
      }),
    ).rejects.toThrow('the step failed');
    expect(kicks).toBe(0);
    expect(await f.sent(PointsInTimeRelease)).toEqual([]);
  });

  describe('a job that only later agents accept', () => {
    afterEach(() => f.heartbeat());

    const takeWithDiff = (volumeId: string, path: string) => ({
      host: HOST,
      snapshotId: '00000000-0000-4000-8000-000000000001',
      volumeId,
      path,
      pointInTime: 'island-1',
      diff: { base: null, blockSize: 1048576 },
    });

    it('is refused, and nothing written, for a host whose agent reported an earlier release', async () => {
      const volume = await f.placedVolume();
      await f.heartbeat({ agentVersion: '0.1.0' });
      await expect(uow.run((tx) => tx.send(SnapshotTake, takeWithDiff(volume.id, volume.imagePath!)))).rejects.toThrow(
        `snapshot.take.v1 for host ${HOST} uses takeWithDiff, which its agent (version 0.1.0) does not accept`,
      );
      const point = { snapshotId: '00000000-0000-4000-8000-000000000002', volumeId: volume.id, path: volume.imagePath!, pointInTime: 'island-2' };
      await expect(
        uow.run((tx) => tx.send(SnapshotTakeGroup, { host: HOST, points: [point, { ...point, diff: { base: null, blockSize: 1048576 } }] })),
      ).rejects.toThrow('uses takeWithDiff');
      expect(await f.sent(SnapshotTake)).toEqual([]);
      expect(await f.sent(SnapshotTakeGroup)).toEqual([]);
      expect(kicks).toBe(0);
    });

    it('goes to a host whose agent accepts it, and its older form to any host', async () => {
      const volume = await f.placedVolume();
      await uow.run((tx) => tx.send(SnapshotTake, takeWithDiff(volume.id, volume.imagePath!)));
      await f.heartbeat({ agentVersion: '0.1.0' });
      const { diff: _, ...takeAlone } = takeWithDiff(volume.id, volume.imagePath!);
      await uow.run((tx) => tx.send(SnapshotTake, takeAlone));
      expect(await f.sent(SnapshotTake)).toEqual([
        expect.objectContaining({ diff: { base: null, blockSize: 1048576 } }),
        expect.not.objectContaining({ diff: expect.anything() }),
      ]);
    });
  });
});
