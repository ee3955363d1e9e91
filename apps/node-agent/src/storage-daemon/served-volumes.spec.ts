import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IslandConfig } from '@island/config';
import { MessagePublisher } from '@island/messaging';
import { SnapshotServer } from '../snapshot-server/snapshot-server';
import { VolumeLocks } from '../volume-locks';
import { ServedVolumes } from './served-volumes';
import { ExportedVolume, ServedVolume, StorageDaemon } from './storage-daemon';

const VOLUME = '6f1c2a9e-6a51-4d36-9f0e-0c5a4e2b7d11';

describe('ServedVolumes, with the storage daemon and the broker faked', () => {
  let dir: string;
  let record: ServedVolume;
  let exportFails: boolean;
  let exports: number;
  let serving: boolean;
  let brokerDown: boolean;
  /** Applied to the record once a look has read it: a detach and another export while the look goes on. */
  let changedDuringLook: Partial<ServedVolume> | undefined;
  const published: unknown[] = [];

  function servedVolumes(): ServedVolumes {
    const daemon = {
      served: {
        all: () => {
          const seen = record;
          record = { ...record, ...changedDuringLook };
          changedDuringLook = undefined;
          return Promise.resolve([seen]);
        },
        get: () => Promise.resolve(record),
      },
      servingNow: () => Promise.resolve({ holds: () => serving, serves: () => serving }),
      export: (): Promise<ExportedVolume> => {
        exports++;
        if (exportFails) return Promise.reject(new Error('the image is damaged'));
        serving = true;
        record = { ...record, device: '/dev/loop7' };
        return Promise.resolve({ raw: '/exports/v.raw', device: '/dev/loop7' });
      },
    } as unknown as StorageDaemon;
    const snapshots = { fillSourceOf: () => Promise.resolve(undefined) } as unknown as SnapshotServer;
    const publisher = {
      publish: (_: unknown, payload: unknown) =>
        brokerDown ? Promise.reject(new Error('broker unavailable: not connected yet')) : Promise.resolve(void published.push(payload)),
    } as unknown as MessagePublisher;
    return new ServedVolumes({ host: { name: 'h1' } } as IslandConfig, daemon, snapshots, new VolumeLocks(), publisher);
  }

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'served-'));
    writeFileSync(join(dir, 'v.qcow2'), '');
    record = { volumeId: VOLUME, path: join(dir, 'v.qcow2'), export: 'block', device: '/dev/loop3' };
    exportFails = true;
    exports = 0;
    serving = false;
    brokerDown = false;
    changedDuringLook = undefined;
    published.length = 0;
    jest.useFakeTimers({ now: 1_000_000, doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
  });
  afterEach(() => {
    jest.useRealTimers();
    rmSync(dir, { recursive: true, force: true });
  });

  it('tries a volume that cannot be served again after 5 s, then after waits doubling up to 5 minutes', async () => {
    const served = servedVolumes();
    const triedAt: number[] = [];
    for (let second = 0; second <= 1_000; second++) {
      jest.setSystemTime(1_000_000 + second * 1000);
      const before = exports;
      await served.check();
      if (exports > before) triedAt.push(second);
    }
    expect(triedAt.slice(0, 8)).toEqual([0, 5, 15, 35, 75, 155, 315, 615]);
    expect(triedAt[8]).toBe(915); // 5 minutes at most
    expect(published).toEqual([]);
  });

  it('tells the API where a volume is served again once it is, and forgets its failures', async () => {
    const served = servedVolumes();
    await served.check();
    exportFails = false;
    jest.setSystemTime(1_000_000 + 5_000);
    await served.check();
    expect(exports).toBe(2);
    expect(published).toEqual([{ host: 'h1', volumeId: VOLUME, raw: '/exports/v.raw', device: '/dev/loop7' }]);
  });

  it('tells the API at a later look where a volume is served again when the broker did not take the first telling', async () => {
    const served = servedVolumes();
    exportFails = false;
    brokerDown = true;
    await served.check();
    expect(exports).toBe(1);
    expect(published).toEqual([]);
    brokerDown = false;
    jest.setSystemTime(1_000_000 + 5_000);
    await served.check();
    expect(exports).toBe(1); // served already: only the telling is redone
    expect(published).toEqual([{ host: 'h1', volumeId: VOLUME, raw: '/exports/v.raw', device: '/dev/loop7' }]);
    await served.check();
    expect(published).toHaveLength(1);
  });

  it.each([
    ['exported as another kind', { export: 'raw' as const, device: undefined }],
    ['behind another loop device', { device: '/dev/loop2' }],
  ])('drops an untold export once the volume is detached and %s while a look goes on', async (_, exportedAgain) => {
    const served = servedVolumes();
    exportFails = false;
    brokerDown = true;
    await served.check();
    brokerDown = false;
    changedDuringLook = exportedAgain;
    await served.check();
    expect(published).toEqual([]);
    await served.check();
    expect(published).toEqual([]);
  });
});
