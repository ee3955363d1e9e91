import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IslandConfig } from '@island/config';
import { SnapshotTakenEvent } from '@island/contracts';
import { MessagePublisher } from '@island/messaging';
import { createImage, openForWriting } from '@island/qcow2';
import { StorageDaemon } from '../storage-daemon/storage-daemon';
import { VolumeLocks } from '../volume-locks';
import { SnapshotJobs } from './snapshot-jobs';

const MIB = 1 << 20;
const HOST = 'host-a';
const VOLUME = '7f1c2a54-3b9e-4c1d-8e2f-0a1b2c3d4e5f';
const OTHER_VOLUME = '7f1c2a54-3b9e-4c1d-8e2f-0a1b2c3d4e60';

describe('the agent taking points in time with the diff the API asked for', () => {
  let dataDir: string;
  let path: string;
  let published: SnapshotTakenEvent[];
  let jobs: SnapshotJobs;

  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'island-take-'));
    path = join(dataDir, 'volume.qcow2');
    await createImage(path, { size: 16 * MIB });
    published = [];
    const publisher = { publish: async (_contract: unknown, payload: SnapshotTakenEvent) => void published.push(payload) } as unknown as MessagePublisher;
    const daemon = { holds: async () => false } as unknown as StorageDaemon;
    jobs = new SnapshotJobs({ host: { dataDir } } as IslandConfig, publisher, new VolumeLocks(), daemon);
  });
  afterEach(() => rm(dataDir, { recursive: true, force: true }));

  async function write(offset: number, length: number): Promise<void> {
    const image = await openForWriting(path);
    await image.write(offset, Buffer.alloc(length, 0xa5));
    await image.close();
  }

  const take = (snapshotId: string, pointInTime: string, diff?: { base: string | null; blockSize: number }) =>
    jobs.take({ host: HOST, snapshotId, volumeId: VOLUME, path, pointInTime, ...(diff && { diff }) });

  it('publishes the blocks changed since the base with the take, in the block size asked for', async () => {
    await write(MIB + 4096, 8192);
    await write(5 * MIB, 2 * MIB);
    await take('a1b2c3d4-0000-4000-8000-000000000001', 'island-1', { base: null, blockSize: MIB });
    await write(9 * MIB, 4096);
    await take('a1b2c3d4-0000-4000-8000-000000000002', 'island-2', { base: 'island-1', blockSize: 4 * MIB });

    expect(published).toEqual([
      {
        host: HOST,
        snapshotId: 'a1b2c3d4-0000-4000-8000-000000000001',
        diff: {
          base: null,
          changed: [
            { start: 1, count: 1 },
            { start: 5, count: 2 },
          ],
          bytesChanged: 64 * 1024 + 2 * MIB,
        },
      },
      {
        host: HOST,
        snapshotId: 'a1b2c3d4-0000-4000-8000-000000000002',
        diff: { base: 'island-1', changed: [{ start: 2, count: 1 }], bytesChanged: 64 * 1024 },
      },
    ]);
  });

  it('still reports the point in time taken, without a diff, when the diff cannot be made against its base', async () => {
    await write(0, 4096);
    await take('a1b2c3d4-0000-4000-8000-000000000003', 'island-3', { base: 'island-gone', blockSize: MIB });

    expect(published).toEqual([{ host: HOST, snapshotId: 'a1b2c3d4-0000-4000-8000-000000000003' }]);
    const image = await openForWriting(path);
    expect(image.snapshots().map((s) => s.name)).toEqual(['island-3']);
    await image.close();
  });

  it('publishes no diff when the take asked for none', async () => {
    await take('a1b2c3d4-0000-4000-8000-000000000004', 'island-4');
    expect(published).toEqual([{ host: HOST, snapshotId: 'a1b2c3d4-0000-4000-8000-000000000004' }]);
  });

  it("publishes each point of a group's take with the diff that point asked for, and none where it asked for none", async () => {
    const other = join(dataDir, 'other.qcow2');
    await createImage(other, { size: 16 * MIB });
    await write(3 * MIB, 4096);
    await jobs.takeGroup({
      host: HOST,
      points: [
        { snapshotId: 'a1b2c3d4-0000-4000-8000-000000000005', volumeId: VOLUME, path, pointInTime: 'island-5', diff: { base: null, blockSize: MIB } },
        { snapshotId: 'a1b2c3d4-0000-4000-8000-000000000006', volumeId: OTHER_VOLUME, path: other, pointInTime: 'island-6' },
      ],
    });

    expect(published).toEqual([
      {
        host: HOST,
        snapshotId: 'a1b2c3d4-0000-4000-8000-000000000005',
        diff: { base: null, changed: [{ start: 3, count: 1 }], bytesChanged: 64 * 1024 },
      },
      { host: HOST, snapshotId: 'a1b2c3d4-0000-4000-8000-000000000006' },
    ]);
    for (const [image, name] of [
      [path, 'island-5'],
      [other, 'island-6'],
    ]) {
      const opened = await openForWriting(image);
      expect(opened.snapshots().map((s) => s.name)).toEqual([name]);
      await opened.close();
    }
  });
});
