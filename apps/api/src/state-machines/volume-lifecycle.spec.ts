import { failureReport, ImageExport, ImageGrow, ImageReplace, SnapshotCopy, VolumeRestore } from '@island/contracts';
import { MetricsService } from '@island/platform';
import { CatalogEvents } from '../events/catalog-events';
import { HostService } from '../requests/host.service';
import { OperationsService } from '../requests/operations.service';
import { SnapshotPipeline } from './snapshot-pipeline';
import { VolumeLifecycle } from './volume-lifecycle';
import { CatalogFixture, HOST } from './testing/catalog-fixture';

describe('the volume lifecycle (state machine on the real catalog, no broker)', () => {
  let f: CatalogFixture;
  let lifecycle: VolumeLifecycle;

  beforeAll(async () => {
    f = await CatalogFixture.create();
    lifecycle = new VolumeLifecycle(f.uow);
  });
  afterAll(() => f?.drop());
  beforeEach(() => f.clearOutbox());

  const reasonOf = (job: string, reason = 'disk full') => `${job} on ${HOST}: ${reason}`;

  it('attaches in file mode when the image is created, and ignores the same event again', async () => {
    const volume = await f.placedVolume({ status: 'attaching', imagePath: null });
    await f.startJob('attach', volume.id, 'volume');
    await lifecycle.imageCreated({ host: HOST, volumeId: volume.id, path: '/data/v.qcow2' });
    expect(await f.volume(volume.id)).toMatchObject({ status: 'in-use', attached: true, imagePath: '/data/v.qcow2' });
    expect(await f.jobOf(volume.id)).toMatchObject({ status: 'succeeded' });
    await lifecycle.imageCreated({ host: HOST, volumeId: volume.id, path: '/elsewhere.qcow2' });
    expect((await f.volume(volume.id)).imagePath).toBe('/data/v.qcow2');
  });

  it('hands a placed image to the storage daemon before an export attach completes', async () => {
    const volume = await f.placedVolume({ status: 'attaching', imagePath: null, exportKind: 'block' });
    const job = await f.startJob('attach', volume.id, 'volume', { export: 'block' });
    await lifecycle.imageCreated({ host: HOST, volumeId: volume.id, path: '/data/b.qcow2' });
    expect(await f.volume(volume.id)).toMatchObject({ status: 'attaching', imagePath: '/data/b.qcow2' });
    expect(await f.sent(ImageExport)).toEqual([expect.objectContaining({ volumeId: volume.id, operationId: job.id, export: 'block' })]);

    await lifecycle.exported({ host: HOST, volumeId: volume.id, operationId: job.id, raw: '/run/raw', device: '/dev/loop7' });
    expect(await f.volume(volume.id)).toMatchObject({ status: 'in-use', attached: true, rawPath: '/run/raw', blockDevice: '/dev/loop7' });
  });

  it('returns a volume whose first attach failed to unplaced, with the reason, and fails its operation', async () => {
    const volume = await f.placedVolume({ status: 'attaching', imagePath: null, exportKind: 'nbd' });
    await f.startJob('attach', volume.id, 'volume', { export: 'nbd' });
    await lifecycle.failed(volume.id, reasonOf('image.create'));
    expect(await f.volume(volume.id)).toMatchObject({ status: 'available', host: null, exportKind: null, statusReason: 'image.create on host-1: disk full' });
    expect(await f.jobOf(volume.id)).toMatchObject({ status: 'failed', error: 'image.create on host-1: disk full' });
  });

  it('forgets the fill of a volume whose lazy image was never created, so nothing waits for it', async () => {
    const volume = await f.placedVolume({ status: 'attaching', imagePath: null, exportKind: 'nbd', fillStatus: 'filling', fillTotal: 1 << 30 });
    await f.startJob('attach', volume.id, 'volume', { export: 'nbd' });
    await lifecycle.failed(volume.id, reasonOf('image.create-from-snapshot'));
    expect(await f.volume(volume.id)).toMatchObject({ status: 'available', host: null, fillStatus: null, fillTotal: 0 });
  });

  it('follows a fill: progress, a late report after the end changes nothing, a failure keeps the volume in use with the reason', async () => {
    const volume = await f.placedVolume({ status: 'in-use', attached: true, exportKind: 'nbd', fillStatus: 'filling', fillTotal: 4096 });
    await lifecycle.fillProgressed({ host: HOST, volumeId: volume.id, done: 1024, total: 4096 });
    expect(await f.volume(volume.id)).toMatchObject({ fillStatus: 'filling', fillDone: 1024 });
    await lifecycle.fillProgressed({ host: HOST, volumeId: volume.id, done: 512, total: 4096 }); // a restarted job starts over
    expect((await f.volume(volume.id)).fillDone).toBe(1024);
    await lifecycle.fillFailed({ host: HOST, volumeId: volume.id, reason: 'block 3 could not be read' });
    expect(await f.volume(volume.id)).toMatchObject({ status: 'in-use', fillStatus: 'failed', fillReason: 'block 3 could not be read' });
    await lifecycle.filled({ host: HOST, volumeId: volume.id });
    expect(await f.volume(volume.id)).toMatchObject({ fillStatus: null, fillDone: 4096 });
    await lifecycle.fillProgressed({ host: HOST, volumeId: volume.id, done: 100, total: 4096 });
    expect(await f.volume(volume.id)).toMatchObject({ fillStatus: null });
  });

  it('keeps an attached volume in use when re-checking its export failed', async () => {
    const volume = await f.placedVolume({ status: 'attaching', attached: true, exportKind: 'nbd', nbdUri: 'nbd+unix:///v' });
    await f.startJob('attach', volume.id, 'volume', { export: 'nbd', reattach: true });
    await lifecycle.failed(volume.id, reasonOf('image.export', 'daemon restarting'));
    expect(await f.volume(volume.id)).toMatchObject({
      status: 'in-use',
      attached: true,
      nbdUri: 'nbd+unix:///v',
      statusReason: expect.stringMatching(/daemon restarting/),
    });
  });

  it("records where a host serves an attached volume again, and ignores a late telling of another kind of export than the volume's", async () => {
    const volume = await f.placedVolume({ status: 'in-use', attached: true, exportKind: 'block', rawPath: '/run/raw', blockDevice: '/dev/loop0' });
    await lifecycle.servedAgain({ host: HOST, volumeId: volume.id, raw: '/run/raw', device: '/dev/loop3' });
    expect(await f.volume(volume.id)).toMatchObject({ rawPath: '/run/raw', blockDevice: '/dev/loop3' });
    await lifecycle.servedAgain({ host: HOST, volumeId: volume.id, nbd: 'nbd+unix:///v?socket=/run/s' });
    await lifecycle.servedAgain({ host: HOST, volumeId: volume.id, raw: '/run/raw' });
    expect(await f.volume(volume.id)).toMatchObject({ nbdUri: null, rawPath: '/run/raw', blockDevice: '/dev/loop3' });
    const raw = await f.placedVolume({ status: 'in-use', attached: true, exportKind: 'raw', rawPath: '/run/r1' });
    await lifecycle.servedAgain({ host: HOST, volumeId: raw.id, raw: '/run/r2', device: '/dev/loop4' });
    await lifecycle.servedAgain({ host: HOST, volumeId: raw.id, raw: '/run/r3' });
    expect(await f.volume(raw.id)).toMatchObject({ rawPath: '/run/r3', blockDevice: null });
    const nbd = await f.placedVolume({ status: 'in-use', attached: true, exportKind: 'nbd', nbdUri: 'nbd+unix:///a?socket=/run/s' });
    await lifecycle.servedAgain({ host: HOST, volumeId: nbd.id, raw: '/run/r4' });
    await lifecycle.servedAgain({ host: HOST, volumeId: nbd.id, nbd: 'nbd+unix:///b?socket=/run/s' });
    expect(await f.volume(nbd.id)).toMatchObject({ nbdUri: 'nbd+unix:///b?socket=/run/s', rawPath: null });
  });

  it('returns an extended volume to the status it had before, grown or not', async () => {
    const grown = await f.placedVolume({ status: 'extending', attached: true });
    const job = await f.startJob('extend', grown.id, 'volume', { sizeBytes: 2 ** 21, previousStatus: 'in-use' });
    await lifecycle.grown({ host: HOST, volumeId: grown.id, operationId: job.id, sizeBytes: 2 ** 21 });
    expect(await f.volume(grown.id)).toMatchObject({ status: 'in-use', sizeBytes: 2 ** 21 });

    const refused = await f.placedVolume({ status: 'extending' });
    await f.startJob('extend', refused.id, 'volume', { sizeBytes: 2 ** 21, previousStatus: 'available' });
    await lifecycle.failed(refused.id, reasonOf(ImageGrow.name));
    expect(await f.volume(refused.id)).toMatchObject({ status: 'available', sizeBytes: refused.sizeBytes, statusReason: expect.stringMatching(/disk full/) });
  });

  it('reverts in two steps: the restored image is swapped in, then the volume head becomes its point in time', async () => {
    const volume = await f.placedVolume();
    const snapshot = await f.newSnapshot(volume, { status: 'available', manifestObject: 'm' });
    await f.catalog.volumes.setStatus(volume.id, 'reverting');
    const job = await f.startJob('revert', volume.id, 'volume', { snapshotId: snapshot.id });

    await lifecycle.restored({
      host: HOST,
      volumeId: volume.id,
      operationId: job.id,
      purpose: 'revert',
      targetPath: '/data/v.revert',
      pointInTime: 'island-rabc',
      bytesWritten: 0,
      blocksWritten: 0,
    });
    expect(await f.sent(ImageReplace)).toEqual([expect.objectContaining({ volumeId: volume.id, replacementPath: '/data/v.revert' })]);
    expect(await f.jobOf(volume.id)).toMatchObject({ status: 'running', progress: 90, params: { snapshotId: snapshot.id, pointInTime: 'island-rabc' } });

    await lifecycle.replaced({ host: HOST, volumeId: volume.id, operationId: job.id });
    expect(await f.volume(volume.id)).toMatchObject({ status: 'available', pointInTime: 'island-rabc', headSeq: snapshot.seq + 1 });
    expect(await f.jobOf(volume.id)).toMatchObject({ status: 'succeeded' });
  });

  it('keeps a volume attached when its detach failed: the storage daemon still serves it', async () => {
    const volume = await f.placedVolume({ status: 'detaching', attached: true, exportKind: 'nbd', nbdUri: 'nbd+unix:///v' });
    await f.startJob('detach', volume.id, 'volume');
    await lifecycle.failed(volume.id, reasonOf('image.unexport', 'QMP refused'));
    expect(await f.volume(volume.id)).toMatchObject({ status: 'in-use', attached: true, nbdUri: 'nbd+unix:///v' });
    expect(await f.jobOf(volume.id)).toMatchObject({ status: 'failed' });
  });

  it("ends what a job's failure policy names: a copy's failure fails the copy, a restore's failure the volume's attach", async () => {
    const pipeline = new SnapshotPipeline(f.uow, new MetricsService());
    const events = new CatalogEvents(pipeline, lifecycle, {} as HostService, {} as OperationsService);
    const volume = await f.placedVolume({ status: 'attaching', imagePath: null });
    const attach = await f.startJob('attach', volume.id, 'volume');
    const copy = await f.newSnapshot(volume, { status: 'uploading', pointInTime: null, copyOf: volume.id });
    const copyJob = {
      snapshotId: copy.id,
      projectId: volume.projectId,
      region: 'r2',
      sourceSnapshotId: volume.id,
      sourceRegion: 'r1',
      sourceManifest: 'm',
      sourceManifestSealed: true,
      blockSize: 65536,
      sizeBytes: 1 << 20,
    };
    const restoreJob = {
      host: HOST,
      volumeId: volume.id,
      operationId: attach.id,
      purpose: 'attach' as const,
      projectId: volume.projectId,
      region: 'r1',
      manifestObject: 'm',
      manifestSealed: true,
      targetPath: '/data/v.qcow2',
      sizeBytes: 1 << 20,
      pointInTime: 'island-r1',
    };

    await events.operationFailed(failureReport(SnapshotCopy, copyJob, 'source manifest unreadable')!);
    expect(await f.snapshot(copy.id)).toMatchObject({
      status: 'error',
      statusReason: expect.stringMatching(/snapshot.copy on a worker: source manifest unreadable/),
    });
    expect((await f.volume(volume.id)).status).toBe('attaching');

    await events.operationFailed(failureReport(VolumeRestore, restoreJob, 'gave up after 6 attempts: Swift 503')!);
    expect(await f.volume(volume.id)).toMatchObject({
      status: 'available',
      host: null,
      statusReason: expect.stringMatching(/volume.restore on host-1: gave up/),
    });
  });
});
