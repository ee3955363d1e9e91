import { createHash } from 'node:crypto';
import { Catalog, SnapshotEntity } from '@island/catalog';
import {
  failureReport,
  PointsInTimeRelease,
  SnapshotDiff,
  SnapshotPartUploadedEvent,
  SnapshotUploadPart,
  SnapshotUploadPartJob,
  SnapshotWriteManifest,
  SnapshotWriteManifestJob,
} from '@island/contracts';
import { MetricsService } from '@island/platform';
import { CatalogEvents } from '../events/catalog-events';
import { HostService } from '../requests/host.service';
import { OperationsService } from '../requests/operations.service';
import { SnapshotPipeline } from './snapshot-pipeline';
import { VolumeLifecycle } from './volume-lifecycle';
import { CatalogFixture, HOST, REGION } from './testing/catalog-fixture';

const hashOf = (block: number, version = 1) => createHash('sha256').update(`block ${block} v${version}`).digest();

describe('the snapshot pipeline (state machine on the real catalog, no broker)', () => {
  let f: CatalogFixture;
  let pipeline: SnapshotPipeline;

  beforeAll(async () => {
    f = await CatalogFixture.create();
    pipeline = new SnapshotPipeline(f.uow, new MetricsService());
  });
  afterAll(() => f?.drop());
  beforeEach(() => f.clearOutbox());

  /** What a snapshot worker does for a part: claims its blocks, stores them, reports them. */
  async function uploadPart(part: SnapshotUploadPartJob, version = 1, blocks = part.blocks): Promise<SnapshotPartUploadedEvent> {
    const hashes = blocks.map((b) => hashOf(b, version));
    await f.db.dataSource.transaction(async (m) => {
      const ledger = new Catalog(m).ledger;
      await ledger.claim(
        part.snapshotId,
        part.region,
        hashes.map((hash) => ({ hash, size: part.blockSize })),
      );
      await ledger.markPresent(
        part.region,
        hashes.map((hash) => ({ hash, storedSize: 100 })),
      );
    });
    return {
      host: HOST,
      snapshotId: part.snapshotId,
      partIndex: part.partIndex,
      blocks: blocks.map((index, i) => ({ index, hash: hashes[i].toString('hex') })),
      bytesRead: blocks.length * part.blockSize,
      bytesUploaded: blocks.length * 100,
      bytesStored: blocks.length * 100,
      blocksUploaded: blocks.length,
      blocksReused: 0,
    };
  }

  async function takenAndDiffed(snapshot: SnapshotEntity, changed: number[]): Promise<SnapshotUploadPartJob[]> {
    await pipeline.taken({ host: HOST, snapshotId: snapshot.id });
    await pipeline.diffed({ host: HOST, snapshotId: snapshot.id, changed: changed.map((start) => ({ start, count: 1 })), bytesChanged: changed.length * 4096 });
    return (await f.sent<SnapshotUploadPartJob>(SnapshotUploadPart)).filter((p) => p.snapshotId === snapshot.id);
  }

  it('takes a snapshot from creating to available, one event at a time, and makes its point in time the volume head', async () => {
    const volume = await f.placedVolume();
    const snapshot = await f.newSnapshot(volume);

    await pipeline.taken({ host: HOST, snapshotId: snapshot.id });
    expect((await f.snapshot(snapshot.id)).status).toBe('uploading');
    expect(await f.sent(SnapshotDiff)).toEqual([expect.objectContaining({ snapshotId: snapshot.id, pointInTime: snapshot.pointInTime, base: null })]);

    const parts = await takenAndDiffed(snapshot, [0, 3, 7]);
    expect(parts.flatMap((p) => p.blocks).sort()).toEqual([0, 3, 7]);
    expect(await f.snapshot(snapshot.id)).toMatchObject({ blocksTotal: 3, bytesChanged: 3 * 4096 });

    for (const part of parts) await pipeline.partUploaded(await uploadPart(part));
    const sealing = await f.snapshot(snapshot.id);
    expect(sealing).toMatchObject({ status: 'sealing', blocksDone: 3, blocksUploaded: 3 });
    expect(await f.sent(SnapshotWriteManifest)).toEqual([expect.objectContaining({ snapshotId: snapshot.id, seq: snapshot.seq })]);
    expect((await f.volume(volume.id)).pointInTime).toBe(snapshot.pointInTime);

    await pipeline.manifestWritten({ snapshotId: snapshot.id, manifestObject: 'manifests/x', bytes: 10, sealed: true });
    expect(await f.snapshot(snapshot.id)).toMatchObject({ status: 'available', manifestObject: 'manifests/x' });
    expect(await f.jobOf(snapshot.id)).toMatchObject({ status: 'succeeded', progress: 100 });
  });

  it('ignores a diff, a part and a manifest that arrive again', async () => {
    const volume = await f.placedVolume();
    const snapshot = await f.newSnapshot(volume);
    const parts = await takenAndDiffed(snapshot, [1, 2]);
    await pipeline.diffed({ host: HOST, snapshotId: snapshot.id, changed: [{ start: 5, count: 1 }], bytesChanged: 1 });
    expect((await f.sent<SnapshotUploadPartJob>(SnapshotUploadPart)).filter((p) => p.snapshotId === snapshot.id)).toHaveLength(parts.length);

    expect(parts).toHaveLength(1);
    const report = await uploadPart(parts[0]);
    await pipeline.partUploaded(report);
    await pipeline.partUploaded(report);
    expect(await f.snapshot(snapshot.id)).toMatchObject({ status: 'sealing', blocksDone: 2, bytesUploaded: 200 });
    expect(await f.sent(SnapshotWriteManifest)).toHaveLength(1);

    await pipeline.manifestWritten({ snapshotId: snapshot.id, manifestObject: 'first', bytes: 1, sealed: true });
    await pipeline.manifestWritten({ snapshotId: snapshot.id, manifestObject: 'again', bytes: 1, sealed: true });
    expect(await f.snapshot(snapshot.id)).toMatchObject({ status: 'available', manifestObject: 'first' });
  });

  it('commits a change cut into parts only when its last part is in, whatever order the parts arrive in, showing progress meanwhile', async () => {
    const MIB = 1024 * 1024;
    const volume = await f.placedVolume({ sizeBytes: 256 * MIB, blockSize: MIB });
    const snapshot = await f.newSnapshot(volume);
    const parts = await takenAndDiffed(
      snapshot,
      Array.from({ length: 256 }, (_, i) => i),
    );
    expect(parts.map((p) => p.blocks.length)).toEqual([64, 64, 64, 64]);

    const progress: number[] = [];
    for (const part of [parts[3], parts[0], parts[0], parts[2]]) {
      await pipeline.partUploaded(await uploadPart(part));
      expect(await f.snapshot(snapshot.id)).toMatchObject({ status: 'uploading' });
      progress.push((await f.jobOf(snapshot.id)).progress);
    }
    expect(await f.sent(SnapshotWriteManifest)).toEqual([]);
    expect(progress[0]).toBeGreaterThan(0);
    expect(progress[1]).toBeGreaterThan(progress[0]);
    expect(progress[2]).toBe(progress[1]); // the redelivered part counted once
    expect(progress[3]).toBeGreaterThan(progress[2]);

    await pipeline.partUploaded(await uploadPart(parts[1]));
    expect(await f.snapshot(snapshot.id)).toMatchObject({ status: 'sealing', blocksDone: 256, blocksUploaded: 256 });
    expect(await f.sent(SnapshotWriteManifest)).toEqual([expect.objectContaining({ snapshotId: snapshot.id })]);
  });

  it('keeps a sealing snapshot committed when its manifest write fails for good, showing why until the manifest is written', async () => {
    const volume = await f.placedVolume();
    const snapshot = await f.newSnapshot(volume);
    const [partJob] = await takenAndDiffed(snapshot, [3]);
    await pipeline.partUploaded(await uploadPart(partJob));
    const events = new CatalogEvents(pipeline, {} as VolumeLifecycle, {} as HostService, {} as OperationsService);
    // a late failure of another of its jobs changes nothing: it is committed
    await events.operationFailed(failureReport(SnapshotUploadPart, partJob, 'redelivered after the commit')!);
    expect(await f.snapshot(snapshot.id)).toMatchObject({ status: 'sealing', statusReason: null });
    const [manifestJob] = await f.sent<SnapshotWriteManifestJob>(SnapshotWriteManifest);
    await events.operationFailed(failureReport(SnapshotWriteManifest, manifestJob, 'manifest m already exists with different content')!);
    expect(await f.snapshot(snapshot.id)).toMatchObject({
      status: 'sealing',
      statusReason:
        'committed; its manifest write failed and will be asked for again: snapshot.write-manifest on a worker: manifest m already exists with different content',
    });
    expect(await f.jobOf(snapshot.id)).toMatchObject({ status: 'running' });

    await pipeline.resendManifest(snapshot.id);
    expect(await f.sent(SnapshotWriteManifest)).toHaveLength(2);
    await pipeline.manifestWritten({ snapshotId: snapshot.id, manifestObject: 'manifests/y', bytes: 10, sealed: true });
    expect(await f.snapshot(snapshot.id)).toMatchObject({ status: 'available', statusReason: null, manifestObject: 'manifests/y' });
    expect(await f.jobOf(snapshot.id)).toMatchObject({ status: 'succeeded' });
  });

  it("uploads a volume's snapshots one after the other: the second diffs against the first's point in time, whatever diff its take brought", async () => {
    const volume = await f.placedVolume();
    const first = await f.newSnapshot(volume);
    const second = await f.newSnapshot(volume);
    const parts = await takenAndDiffed(first, [0]);
    // a diff made with the take, against the head before the first snapshot: kept unused while the first uploads
    await pipeline.taken({ host: HOST, snapshotId: second.id, diff: { base: null, changed: [{ start: 5, count: 1 }], bytesChanged: 1 } });
    expect(await f.snapshot(second.id)).toMatchObject({ status: 'pending', blocksTotal: 0 });

    await f.clearOutbox();
    for (const part of parts) await pipeline.partUploaded(await uploadPart(part));
    expect((await f.snapshot(second.id)).status).toBe('uploading');
    expect(await f.sent(SnapshotDiff)).toEqual([expect.objectContaining({ snapshotId: second.id, base: first.pointInTime })]);
  });

  it("uploads the diff the agent made with the take, against the volume's head, without asking the agent for another", async () => {
    const volume = await f.placedVolume();
    const first = await f.newSnapshot(volume);
    await pipeline.taken({ host: HOST, snapshotId: first.id, diff: { base: null, changed: [{ start: 2, count: 3 }], bytesChanged: 3 * 4096 } });

    expect(await f.snapshot(first.id)).toMatchObject({ status: 'uploading', blocksTotal: 3, bytesChanged: 3 * 4096 });
    expect(await f.sent(SnapshotDiff)).toEqual([]);
    const parts = (await f.sent<SnapshotUploadPartJob>(SnapshotUploadPart)).filter((p) => p.snapshotId === first.id);
    expect(parts.flatMap((p) => p.blocks).sort()).toEqual([2, 3, 4]);
    for (const part of parts) await pipeline.partUploaded(await uploadPart(part));
    expect((await f.snapshot(first.id)).status).toBe('sealing');

    await f.clearOutbox();
    const second = await f.newSnapshot(volume);
    await pipeline.taken({ host: HOST, snapshotId: second.id, diff: { base: first.pointInTime, changed: [], bytesChanged: 0 } });
    expect(await f.snapshot(second.id)).toMatchObject({ status: 'sealing', blocksTotal: 0 });
    expect(await f.sent(SnapshotDiff)).toEqual([]);
    expect((await f.volume(volume.id)).pointInTime).toBe(second.pointInTime);
  });

  it("asks the agent for a diff when the one made with the take is against another point in time than the volume's head", async () => {
    const volume = await f.placedVolume();
    const first = await f.newSnapshot(volume);
    for (const part of await takenAndDiffed(first, [1])) await pipeline.partUploaded(await uploadPart(part));
    await f.clearOutbox();

    const second = await f.newSnapshot(volume);
    // made against the state before the first snapshot committed: not what the second's upload must diff against
    await pipeline.taken({ host: HOST, snapshotId: second.id, diff: { base: null, changed: [{ start: 0, count: 16 }], bytesChanged: 1 } });
    expect(await f.snapshot(second.id)).toMatchObject({ status: 'uploading', blocksTotal: 0 });
    expect(await f.sent(SnapshotUploadPart)).toEqual([]);
    expect(await f.sent(SnapshotDiff)).toEqual([expect.objectContaining({ snapshotId: second.id, base: first.pointInTime })]);
  });

  it('fails a snapshot whose part reports other blocks than it was given, releasing its claims and its point in time', async () => {
    const volume = await f.placedVolume();
    const snapshot = await f.newSnapshot(volume);
    const [part] = await takenAndDiffed(snapshot, [4]);
    await pipeline.partUploaded(await uploadPart(part, 1, [5]));

    const failed = await f.snapshot(snapshot.id);
    expect(failed.status).toBe('error');
    expect(failed.statusReason).toMatch(/part 0 reported blocks that differ/);
    expect(await f.jobOf(snapshot.id)).toMatchObject({ status: 'failed', error: failed.statusReason });
    const [claims] = (await f.db.dataSource.query(`SELECT count(*)::int AS n FROM block_claim WHERE snapshot_id = $1`, [snapshot.id])) as { n: number }[];
    expect(claims.n).toBe(0);
    expect(await f.sent(PointsInTimeRelease)).toEqual([expect.objectContaining({ volumeId: volume.id, drop: [snapshot.pointInTime] })]);
  });

  it('fails a snapshot whose diff names a block beyond the end of the volume', async () => {
    const volume = await f.placedVolume();
    const snapshot = await f.newSnapshot(volume);
    await takenAndDiffed(snapshot, [16]);
    expect(await f.snapshot(snapshot.id)).toMatchObject({
      status: 'error',
      statusReason: expect.stringMatching(/block 16 changed, beyond the volume's last block 15/),
    });
  });

  it('fails every snapshot of a group when its take failed', async () => {
    const [a, b] = [await f.placedVolume(), await f.placedVolume()];
    const groupId = '00000000-0000-4000-8000-000000000001';
    const sa = await f.newSnapshot(a, { groupId });
    const sb = await f.newSnapshot(b, { groupId });
    await pipeline.groupTakeFailed(sa.id, 'QMP transaction refused');
    for (const s of [sa, sb]) expect(await f.snapshot(s.id)).toMatchObject({ status: 'error', statusReason: 'QMP transaction refused' });
  });

  it("counts a region copy's batches once each and commits it when the last is counted, whether its transfer report came before or after", async () => {
    const replica = await f.placedVolume({ status: 'replica', host: null, imagePath: null, replicaOf: (await f.placedVolume()).id });
    const copy = await f.newSnapshot(replica, { status: 'uploading', pointInTime: null, copyOf: '00000000-0000-4000-8000-0000000000aa', region: REGION });
    const hashes = [hashOf(100), hashOf(101)];
    await f.db.dataSource.transaction(async (m) => {
      const c = new Catalog(m);
      await c.uploads.stageChanges(copy.id, 0, [0, 1], hashes);
      await c.ledger.claim(
        copy.id,
        REGION,
        hashes.map((hash) => ({ hash, size: 65536 })),
      );
      await c.ledger.markPresent(
        REGION,
        hashes.map((hash) => ({ hash, storedSize: 50 })),
      );
    });

    const batch0 = { snapshotId: copy.id, batch: 0, blocksTotal: 2, blocks: 1, blocksCopied: 1, bytesCopied: 50 };
    await pipeline.copyProgressed(batch0);
    await pipeline.copyProgressed(batch0); // redelivered
    expect(await f.snapshot(copy.id)).toMatchObject({ blocksTotal: 2, blocksDone: 1, blocksUploaded: 1, bytesUploaded: 50 });

    // the transfer report overtakes the last batch's: kept, nothing committed, nothing thrown (no broker retry)
    const transferred = { snapshotId: copy.id, entries: 2, distinctBlocks: 2, batches: 2 };
    await pipeline.copyTransferred(transferred);
    expect(await f.snapshot(copy.id)).toMatchObject({ status: 'uploading', copyTransfer: { entries: 2, distinctBlocks: 2, batches: 2 } });

    // the last batch arrives: counted, and the copy commits
    await pipeline.copyProgressed({ ...batch0, batch: 1, blocksCopied: 0, bytesCopied: 0 });
    expect(await f.snapshot(copy.id)).toMatchObject({ status: 'sealing', blocksDone: 2, blocksUploaded: 1, blocksReused: 1 });
    // the transfer report redelivered after the commit changes nothing
    await pipeline.copyTransferred(transferred);
    expect((await f.snapshot(copy.id)).status).toBe('sealing');
  });
});
