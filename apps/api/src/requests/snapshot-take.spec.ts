import { IslandConfig } from '@island/config';
import { AGENT_VERSION, parsePayload, SnapshotTake, SnapshotTakeGroup } from '@island/contracts';
import { MetricsService } from '@island/platform';
import { Caller } from '../auth/caller';
import { SnapshotPipeline } from '../state-machines/snapshot-pipeline';
import { CatalogFixture, HOST, REGION } from '../state-machines/testing/catalog-fixture';
import { SnapshotCopyService } from './snapshot-copy.service';
import { SnapshotService } from './snapshot.service';

describe("the take a snapshot of a placed volume sends its host's agent (on the real catalog)", () => {
  let f: CatalogFixture;
  let snapshots: SnapshotService;
  const caller: Caller = { projectId: 'p1', admin: false, scope: 'p1', readOnly: false };

  beforeAll(async () => {
    f = await CatalogFixture.create();
    const config = {
      region: REGION,
      regions: [{ name: REGION }],
      quotas: {},
      recycleBin: { retentionSeconds: 0 },
      blocks: { size: 65536 },
    } as unknown as IslandConfig;
    // a placed volume's snapshot waits for its take: the pipeline is not reached
    snapshots = new SnapshotService(config, f.uow, {} as SnapshotPipeline, new MetricsService(), new SnapshotCopyService(config, f.uow));
  });
  afterAll(() => f?.drop());
  beforeEach(() => f.clearOutbox());

  async function agentReports(version: string): Promise<void> {
    await f.heartbeat({ agentVersion: version });
  }

  it('asks an agent of this version to diff against the head with the take when nothing of the volume is in flight', async () => {
    await agentReports(AGENT_VERSION);
    const volume = await f.placedVolume({ pointInTime: 'island-s3' });
    const view = await snapshots.create(caller, { volumeId: volume.id });
    expect(await f.sent(SnapshotTake)).toEqual([
      expect.objectContaining({ snapshotId: view.id, host: HOST, diff: { base: 'island-s3', blockSize: volume.blockSize } }),
    ]);
  });

  it('sends an agent not yet upgraded (0.1.0, which refuses a take with a diff) the take alone, so the snapshot is still taken', async () => {
    await agentReports('0.1.0');
    const volume = await f.placedVolume();
    const view = await snapshots.create(caller, { volumeId: volume.id });
    const [take] = await f.sent(SnapshotTake);
    expect(take).toMatchObject({ snapshotId: view.id, host: HOST });
    expect(take).not.toHaveProperty('diff');
    expect(() => parsePayload(SnapshotTake, take)).not.toThrow();
  });

  it('sends the take alone while an earlier snapshot of the volume is still to upload: the new one will not diff against the head', async () => {
    await agentReports(AGENT_VERSION);
    const volume = await f.placedVolume();
    await f.newSnapshot(volume, { status: 'uploading' });
    await snapshots.create(caller, { volumeId: volume.id });
    const [take] = await f.sent(SnapshotTake);
    expect(take).not.toHaveProperty('diff');
  });

  it("asks for each volume's diff with a group's take, but not for a volume with an earlier snapshot still to upload", async () => {
    await agentReports(AGENT_VERSION);
    const idle = await f.placedVolume({ pointInTime: 'island-s2' });
    const busy = await f.placedVolume();
    await f.newSnapshot(busy, { status: 'uploading' });
    const group = await snapshots.createGroup(caller, { volumeIds: [idle.id, busy.id] });
    const [take] = await f.sent<{ points: Record<string, unknown>[] }>(SnapshotTakeGroup);
    const pointOf = (volumeId: string) => take.points.find((p) => p.volumeId === volumeId);
    expect(pointOf(idle.id)).toMatchObject({ diff: { base: 'island-s2', blockSize: idle.blockSize } });
    expect(pointOf(busy.id)).not.toHaveProperty('diff');
    expect(take.points.map((p) => p.snapshotId).sort()).toEqual(group.snapshots.map((s) => s.id).sort());
    expect(() => parsePayload(SnapshotTakeGroup, take)).not.toThrow();
  });

  it("sends a group's take without diffs to an agent not yet upgraded", async () => {
    await agentReports('0.1.0');
    const volume = await f.placedVolume();
    await snapshots.createGroup(caller, { volumeIds: [volume.id] });
    const [take] = await f.sent<{ points: Record<string, unknown>[] }>(SnapshotTakeGroup);
    expect(take.points).toHaveLength(1);
    expect(take.points[0]).not.toHaveProperty('diff');
  });
});
