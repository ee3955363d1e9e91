import { IslandConfig } from '@island/config';
import { SnapshotWriteManifest } from '@island/contracts';
import { MetricsService } from '@island/platform';
import { OperationsService } from '../requests/operations.service';
import { operationDeadlines } from './operation-deadlines';
import { OperationSweeper } from './operation-sweeper';
import { SnapshotPipeline } from './snapshot-pipeline';
import { VolumeLifecycle } from './volume-lifecycle';
import { CatalogFixture } from './testing/catalog-fixture';

describe('the operation sweeper (on the real catalog, no broker)', () => {
  let f: CatalogFixture;
  let sweeper: OperationSweeper;

  beforeAll(async () => {
    f = await CatalogFixture.create();
    const config = { operations: { sweepSeconds: 30, deadlineOverrides: { attach: 60 } } } as unknown as IslandConfig;
    const metrics = new MetricsService();
    sweeper = new OperationSweeper(
      config,
      f.uow,
      new SnapshotPipeline(f.uow, metrics),
      new VolumeLifecycle(f.uow),
      new OperationsService(config, f.uow),
      metrics,
    );
  });
  afterAll(() => f?.drop());
  beforeEach(async () => {
    await f.clearOutbox();
    await f.db.dataSource.query(`UPDATE job SET status = 'succeeded' WHERE status = 'running'`);
  });

  const idleFor = (jobId: string, seconds: number) =>
    f.db.dataSource.query(`UPDATE job SET updated_at = now() - make_interval(secs => $2) WHERE id = $1`, [jobId, seconds]);

  it('ends an attach that made no progress past its deadline: the volume is usable again and says why', async () => {
    const volume = await f.placedVolume({ status: 'attaching', imagePath: null });
    const job = await f.startJob('attach', volume.id, 'volume');
    await idleFor(job.id, 30);
    expect(await sweeper.sweep()).toBe(0); // within its (configured) 60 s

    await idleFor(job.id, 61);
    expect(await sweeper.sweep()).toBe(1);
    expect(await f.volume(volume.id)).toMatchObject({
      status: 'available',
      host: null,
      statusReason: expect.stringMatching(/^no progress for 6\d s \(a attach may go 60 s without/),
    });
    expect(await f.jobOf(volume.id)).toMatchObject({ status: 'failed', error: expect.stringMatching(/no progress/) });
  });

  it('asks again for the manifest of a committed snapshot whose manifest write stalled, instead of failing it', async () => {
    const volume = await f.placedVolume();
    const snapshot = await f.newSnapshot(volume, { status: 'sealing' });
    await idleFor((await f.jobOf(snapshot.id)).id, 21 * 60);
    await sweeper.sweep();
    expect((await f.snapshot(snapshot.id)).status).toBe('sealing');
    expect(await f.sent(SnapshotWriteManifest)).toEqual([expect.objectContaining({ snapshotId: snapshot.id, seq: snapshot.seq })]);
    expect(await f.jobOf(snapshot.id)).toMatchObject({ status: 'running' });
    expect(await sweeper.sweep()).toBe(0); // its job counts as progressing again
  });

  it('leaves a snapshot waiting for its turn alone, and fails one stuck uploading', async () => {
    const volume = await f.placedVolume();
    const uploading = await f.newSnapshot(volume, { status: 'uploading' });
    const pending = await f.newSnapshot(volume, { status: 'pending' });
    for (const s of [uploading, pending]) await idleFor((await f.jobOf(s.id)).id, 21 * 60);
    await sweeper.sweep();
    expect(await f.snapshot(uploading.id)).toMatchObject({ status: 'error', statusReason: expect.stringMatching(/no progress/) });
    // the failed upload let the next one start: it is uploading now, its job progressing
    expect((await f.snapshot(pending.id)).status).toBe('uploading');
    expect(await f.jobOf(pending.id)).toMatchObject({ status: 'running' });
  });

  it('ends a GC run that hangs, and refuses a deadline for an operation kind that does not exist', async () => {
    const run = await f.catalog.jobs.start('gc-run', { type: 'region', projectId: null }, { region: 'r1', graceSeconds: 0, dryRun: false });
    await idleFor(run.id, 2 * 3600 + 1);
    await sweeper.sweep();
    expect(await f.jobOf(run.id)).toMatchObject({ status: 'failed', error: expect.stringMatching(/no progress for 720\d s/) });
    expect(() => operationDeadlines({ atach: 60 })).toThrow(/unknown operation kinds atach/);
  });
});
