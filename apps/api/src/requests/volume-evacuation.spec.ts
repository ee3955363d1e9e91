import { IslandConfig } from '@island/config';
import { VolumeRestore } from '@island/contracts';
import { MetricsService } from '@island/platform';
import { Caller } from '../auth/caller';
import { ConflictError, ForbiddenError } from '../errors/domain-errors';
import { SnapshotPipeline } from '../state-machines/snapshot-pipeline';
import { CatalogFixture, HOST, REGION } from '../state-machines/testing/catalog-fixture';
import { SnapshotCopyService } from './snapshot-copy.service';
import { VolumeEvacuationService } from './volume-evacuation.service';
import { VolumeService } from './volume.service';

const OTHER_HOST = 'host-2';

describe('evacuating a volume from a lost host (on the real catalog)', () => {
  let f: CatalogFixture;
  let evacuation: VolumeEvacuationService;
  const admin: Caller = { projectId: 'admin', admin: true, scope: undefined, readOnly: false };

  beforeAll(async () => {
    f = await CatalogFixture.create();
    const config = { region: REGION, regions: [{ name: REGION }], quotas: {}, blocks: { size: 65536 } } as unknown as IslandConfig;
    const metrics = new MetricsService();
    const volumes = new VolumeService(config, f.uow, metrics, new SnapshotCopyService(config, f.uow));
    evacuation = new VolumeEvacuationService(f.uow, volumes, new SnapshotPipeline(f.uow, metrics));
    await f.heartbeat({ name: OTHER_HOST, dataDir: '/data2' });
  });
  afterAll(() => f?.drop());

  const silence = (host: string, seconds: number) =>
    f.db.dataSource.query(`UPDATE host SET last_seen_at = now() - make_interval(secs => $2) WHERE name = $1`, [host, seconds]);

  it('recreates the volume on another host from its last snapshot, saying which, and fails what the lost host was taking', async () => {
    const volume = await f.placedVolume({ status: 'in-use', attached: true });
    const committed = await f.newSnapshot(volume, { status: 'available', manifestObject: 'manifests/last', committedAt: new Date('2026-12-01T10:00:00Z') });
    await f.db.dataSource.query(`UPDATE volume SET head_snapshot_id = $2, head_seq = $3 WHERE id = $1`, [volume.id, committed.id, committed.seq]);
    const inFlight = await f.newSnapshot(volume, { status: 'uploading' });
    await f.clearOutbox();

    await silence(HOST, 60);
    await expect(evacuation.evacuate(admin, volume.id, OTHER_HOST)).rejects.toThrow(
      /seen 60 s ago; a volume is evacuated once its host has been silent for 300 s/,
    );
    await expect(evacuation.evacuate({ ...admin, admin: false, scope: 'p1', projectId: 'p1' }, volume.id, OTHER_HOST)).rejects.toBeInstanceOf(ForbiddenError);

    await silence(HOST, 301);
    const view = await evacuation.evacuate(admin, volume.id, OTHER_HOST);
    expect(view).toMatchObject({ status: 'attaching', host: OTHER_HOST });
    expect(String((await f.volume(volume.id)).statusReason)).toMatch(
      new RegExp(
        `^evacuated from host ${HOST} \\(silent since .*\\): content of snapshot ${committed.id} \\(seq ${committed.seq}, committed 2026-12-01T10:00:00.000Z\\)`,
      ),
    );
    expect(await f.sent(VolumeRestore)).toEqual([
      expect.objectContaining({ host: OTHER_HOST, volumeId: volume.id, manifestObject: 'manifests/last', purpose: 'attach' }),
    ]);
    expect(await f.snapshot(inFlight.id)).toMatchObject({ status: 'error', statusReason: expect.stringMatching(/host lost before the snapshot was uploaded/) });
  });

  it('refuses a volume that never had a snapshot: there is nothing to recreate it from', async () => {
    const volume = await f.placedVolume({ status: 'in-use', attached: true });
    await silence(HOST, 301);
    const refused = await evacuation.evacuate(admin, volume.id, OTHER_HOST).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ConflictError);
    expect((refused as Error).message).toBe(`volume ${volume.id} has no committed snapshot: there is nothing to recreate it from`);
    expect(await f.volume(volume.id)).toMatchObject({ status: 'in-use', host: HOST });
  });
});
