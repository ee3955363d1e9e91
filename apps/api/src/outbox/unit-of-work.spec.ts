import { PointsInTimeRelease } from '@island/contracts';
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
});
