import { Injectable, Logger } from '@nestjs/common';
import { Catalog, CopyTransferReport, JobKind, SnapshotEntity, VolumeEntity } from '@island/catalog';
import {
  ChangedBlocks,
  PointsInTimeRelease,
  SnapshotCopyProgressedEvent,
  SnapshotCopyTransferredEvent,
  SnapshotDiff,
  SnapshotDiffedEvent,
  SnapshotManifestWrittenEvent,
  SnapshotPartUploadedEvent,
  SnapshotTakenEvent,
  SnapshotUploadPart,
  SnapshotWriteManifest,
  TakenDiff,
} from '@island/contracts';
import { MetricsService } from '@island/platform';
import { Tx, UnitOfWork } from '../outbox/unit-of-work';
import { snapshotProgress } from '../dtos/snapshot.dto';
import { splitIntoParts } from './snapshot-parts';

/**
 * The snapshot state machine, driven by events from agents and workers. Every step runs in one catalog
 * transaction with the messages it implies, locks the snapshot row, and ignores an event that arrives
 * again (redelivery) or late (the snapshot moved on).
 *
 *   creating ─taken→ pending ─(volume's turn)→ uploading ─parts done→ committing → sealing ─manifest→ available
 */
@Injectable()
export class SnapshotPipeline {
  private readonly logger = new Logger(SnapshotPipeline.name);

  constructor(
    private readonly uow: UnitOfWork,
    private readonly metrics: MetricsService,
  ) {}

  async taken(e: SnapshotTakenEvent): Promise<void> {
    await this.uow.run(async (tx) => {
      const snapshot = await this.lockSnapshot(tx, e.snapshotId);
      if (snapshot?.status !== 'creating') return;
      await this.setStatus(tx, snapshot, 'pending');
      await this.scheduleUploads(tx, snapshot.volumeId, e.diff && { snapshotId: snapshot.id, ...e.diff });
    });
  }

  /**
   * Starts the next upload of a volume when none runs: the oldest pending snapshot diffs against the
   * volume's head point in time, so uploads of one volume commit in order. `ready`: a diff the agent made with the
   * take, used when it is that snapshot's and against that head (otherwise the agent is asked for one).
   */
  async scheduleUploads(tx: Tx, volumeId: string, ready?: TakenDiff & { snapshotId: string }): Promise<void> {
    const { catalog } = tx;
    if ((await catalog.snapshots.countUploading(volumeId)) > 0) return;
    const next = await catalog.snapshots.nextPending(volumeId);
    if (!next) return;
    const volume = await catalog.volumes.get(volumeId);
    await this.setStatus(tx, next, 'uploading');
    if (ready && ready.snapshotId === next.id && (ready.base ?? null) === volume.pointInTime) {
      await this.uploadChanges(tx, { ...next, status: 'uploading' }, volume, ready);
      return;
    }
    await tx.send(SnapshotDiff, {
      host: volume.host!,
      snapshotId: next.id,
      volumeId,
      path: volume.imagePath!,
      pointInTime: next.pointInTime!,
      base: volume.pointInTime,
      blockSize: next.blockSize,
    });
  }

  async diffed(e: SnapshotDiffedEvent): Promise<void> {
    await this.uow.run(async (tx) => {
      const { catalog } = tx;
      const snapshot = await this.lockSnapshot(tx, e.snapshotId);
      if (snapshot?.status !== 'uploading') return;
      if (await catalog.uploads.hasParts(snapshot.id)) return; // a redelivered diff: the parts exist already
      await this.uploadChanges(tx, snapshot, await catalog.volumes.get(snapshot.volumeId), e);
    });
  }

  /** An uploading snapshot's diff, from the agent: recorded, then cut into parts for the workers (or committed when empty). */
  private async uploadChanges(tx: Tx, snapshot: SnapshotEntity, volume: VolumeEntity, e: ChangedBlocks): Promise<void> {
    const { catalog } = tx;
    const blocks = e.changed.flatMap((run) => Array.from({ length: run.count }, (_, i) => run.start + i));
    const lastBlock = Math.ceil(snapshot.sizeBytes / snapshot.blockSize) - 1;
    const outside = blocks.find((b) => b > lastBlock);
    if (outside !== undefined) {
      await this.fail(tx, snapshot, `agent reported block ${outside} changed, beyond the volume's last block ${lastBlock}`);
      return;
    }
    await catalog.snapshots.recordDiff(snapshot.id, blocks.length, e.bytesChanged);
    if (blocks.length === 0) {
      await this.commit(tx, { ...snapshot, blocksTotal: 0 }, volume);
      return;
    }
    const parts = splitIntoParts(blocks, snapshot.blockSize);
    for (const [part, slice] of parts.entries()) {
      await catalog.uploads.queuePart(snapshot.id, part, slice);
      await tx.send(SnapshotUploadPart, {
        host: volume.host!,
        snapshotId: snapshot.id,
        volumeId: volume.id,
        projectId: snapshot.projectId,
        region: snapshot.region,
        path: volume.imagePath!,
        pointInTime: snapshot.pointInTime!,
        blockSize: snapshot.blockSize,
        sizeBytes: snapshot.sizeBytes,
        partIndex: part,
        blocks: slice,
      });
    }
  }

  async partUploaded(e: SnapshotPartUploadedEvent): Promise<void> {
    await this.uow.run(async (tx) => {
      const { catalog } = tx;
      // parts still uploading keep claiming blocks meanwhile (commit and fail take the stronger lock)
      const snapshot = await catalog.snapshots.lockWithVolume(e.snapshotId, 'for_no_key_update');
      if (snapshot?.status !== 'uploading') return;
      const given = await catalog.uploads.completePart(snapshot.id, e.partIndex);
      if (!given) return; // already counted
      const expected = given.blocks.sort((a, b) => a - b);
      const got = e.blocks.map((b) => b.index).sort((a, b) => a - b);
      if (expected.length !== got.length || expected.some((b, i) => b !== got[i])) {
        await this.fail(tx, snapshot, `part ${e.partIndex} reported blocks that differ from the blocks it was given`);
        return;
      }
      await catalog.uploads.stageChanges(
        snapshot.id,
        e.partIndex,
        e.blocks.map((b) => b.index),
        e.blocks.map((b) => (b.hash === null ? null : Buffer.from(b.hash, 'hex'))),
      );
      const updated = await catalog.snapshots.addUploadedPart(snapshot.id, {
        blocks: e.blocks.length,
        bytesUploaded: e.bytesUploaded,
        bytesStored: e.bytesStored,
        blocksUploaded: e.blocksUploaded,
        blocksReused: e.blocksReused,
      });
      this.metrics.counter('island_snapshot_bytes_uploaded_total', 'Compressed bytes of snapshot blocks PUT to Swift').inc(e.bytesUploaded);
      await this.progress(catalog, snapshot, { status: 'uploading', ...updated });
      if (given.stillQueued === 0) await this.commit(tx, snapshot, await catalog.volumes.get(snapshot.volumeId));
    });
  }

  /** A batch of a region copy is in its region: counted once (its counters are the worker's report), progress shown. */
  async copyProgressed(e: SnapshotCopyProgressedEvent): Promise<void> {
    await this.uow.run(async (tx) => {
      const { catalog } = tx;
      const snapshot = await catalog.snapshots.lockWithVolume(e.snapshotId, 'for_no_key_update');
      if (snapshot?.status !== 'uploading' || !snapshot.copyOf) return;
      if (!(await catalog.uploads.recordCopyBatch(snapshot.id, e.batch))) return; // counted already
      await catalog.snapshots.addCopiedBatch(snapshot.id, e);
      this.metrics.counter('island_copy_bytes_total', 'Bytes of blocks copied between regions').inc(e.bytesCopied);
      await this.progress(catalog, snapshot, await catalog.snapshots.get(snapshot.id));
      // the transfer report came first: this was the batch it waited for
      if (snapshot.copyTransfer) await this.commitCopyWhenCounted(tx, snapshot, snapshot.copyTransfer);
    });
  }

  /**
   * Every block of a region copy is there and its block map staged: it commits like a snapshot once every batch
   * the worker reported is counted. Batch reports may still be queued behind this one (they are handled side by
   * side): then the report is kept on the copy and the last batch's count commits it — no retry through the
   * broker, whose delay queues do not survive every restart.
   */
  async copyTransferred(e: SnapshotCopyTransferredEvent): Promise<void> {
    await this.uow.run(async (tx) => {
      const { catalog } = tx;
      const snapshot = await this.lockSnapshot(tx, e.snapshotId);
      if (snapshot?.status !== 'uploading' || !snapshot.copyOf) return;
      const staged = await catalog.uploads.countStaged(snapshot.id);
      if (staged !== e.entries) {
        await this.fail(tx, snapshot, `copy staged ${staged} block entries, its source manifest has ${e.entries}`);
        return;
      }
      const report = { entries: e.entries, distinctBlocks: e.distinctBlocks, batches: e.batches };
      await catalog.snapshots.keepCopyTransfer(snapshot.id, report);
      await this.commitCopyWhenCounted(tx, snapshot, report);
    });
  }

  /** Commits a copy whose transfer was reported once each of its batches is counted; until then it waits. */
  private async commitCopyWhenCounted(tx: Tx, snapshot: SnapshotEntity, report: CopyTransferReport): Promise<void> {
    const { catalog } = tx;
    if ((await catalog.uploads.countDoneParts(snapshot.id)) < report.batches) return;
    await catalog.snapshots.completeCopyCounters(snapshot.id, report.distinctBlocks);
    await this.commit(tx, snapshot, await catalog.volumes.get(snapshot.volumeId));
  }

  /**
   * Commits a snapshot whose blocks are all in Swift: its versions enter the ledger and it becomes the
   * volume's head; the manifest is written next, the replaced point in time dropped, the next upload started.
   */
  async commit(tx: Tx, snapshot: SnapshotEntity, volume: VolumeEntity): Promise<void> {
    const { catalog } = tx;
    await catalog.snapshots.lockUploadEnd(snapshot.id);
    await catalog.snapshots.setStatus(snapshot.id, 'committing');
    await catalog.ledger.commit(snapshot);
    await catalog.snapshots.setStatus(snapshot.id, 'sealing');
    await catalog.uploads.dropParts(snapshot.id);
    if (snapshot.pointInTime) {
      await catalog.volumes.advancePointInTime(volume.id, snapshot.pointInTime);
      if (volume.pointInTime && volume.host && volume.imagePath) {
        await tx.send(PointsInTimeRelease, { host: volume.host, volumeId: volume.id, path: volume.imagePath, drop: [volume.pointInTime] });
      }
    }
    await this.sendManifestWrite(tx, snapshot, volume);
    if (snapshot.pointInTime) await this.scheduleUploads(tx, volume.id);
  }

  /** A sealing snapshot whose manifest write was lost or gave up (Swift down for long): it is asked for again. */
  async resendManifest(snapshotId: string): Promise<void> {
    await this.uow.run(async (tx) => {
      const snapshot = await this.lockSnapshot(tx, snapshotId);
      if (snapshot?.status !== 'sealing') return;
      await this.sendManifestWrite(tx, snapshot, await tx.catalog.volumes.get(snapshot.volumeId));
      await this.progress(tx.catalog, snapshot, snapshot);
    });
  }

  private async sendManifestWrite(tx: Tx, snapshot: SnapshotEntity, volume: VolumeEntity): Promise<void> {
    await tx.send(SnapshotWriteManifest, {
      snapshotId: snapshot.id,
      volumeId: volume.id,
      projectId: snapshot.projectId,
      region: snapshot.region,
      seq: snapshot.seq,
      sizeBytes: snapshot.sizeBytes,
      blockSize: snapshot.blockSize,
      name: snapshot.name,
      volumeName: volume.name,
      createdAt: snapshot.createdAt.toISOString(),
      ...(snapshot.copyOf && volume.replicaOf && { copyOf: snapshot.copyOf, replicaOf: volume.replicaOf }),
    });
  }

  async manifestWritten(e: SnapshotManifestWrittenEvent): Promise<void> {
    await this.uow.run(async (tx) => {
      const { catalog } = tx;
      const snapshot = await this.lockSnapshot(tx, e.snapshotId);
      if (snapshot?.status !== 'sealing') return;
      await catalog.snapshots.markAvailable(snapshot.id, e.manifestObject, e.sealed);
      const job = await catalog.jobs.running(snapshot.id, snapshotJobKind(snapshot));
      if (job) await catalog.jobs.finish(job.id);
      if (snapshot.copyOf) await this.seedVolumesAwaitingCopy(catalog, snapshot);
      this.metrics.counter('island_snapshots_committed_total', 'Snapshots committed and sealed').inc();
    });
  }

  /** A job of this snapshot cannot succeed: the snapshot fails, its claims and point in time are released. */
  async failed(snapshotId: string, reason: string): Promise<void> {
    await this.uow.run(async (tx) => {
      const snapshot = await this.lockSnapshot(tx, snapshotId);
      if (!snapshot || !['creating', 'pending', 'uploading', 'committing'].includes(snapshot.status)) return;
      await this.fail(tx, snapshot, reason);
    });
  }

  /**
   * A sealing snapshot's manifest write failed for good: the snapshot is committed and stays so, the sweeper asks for
   * the manifest again once the operation's deadline passes, and the reason is kept on the snapshot meanwhile, so a
   * manifest that keeps failing is seen.
   */
  async manifestWriteFailed(snapshotId: string, reason: string): Promise<void> {
    await this.uow.run(async (tx) => {
      const snapshot = await this.lockSnapshot(tx, snapshotId);
      if (snapshot?.status !== 'sealing') return;
      this.logger.warn(`snapshot ${snapshot.id}: manifest write failed, to be asked for again: ${reason}`);
      await tx.catalog.snapshots.noteReason(snapshot.id, `committed; its manifest write failed and will be asked for again: ${reason}`);
    });
  }

  /**
   * A group's points in time are taken together, so a take that failed for good failed for every snapshot of
   * the group (the agent names the first): each one still being taken fails with the reason.
   */
  async groupTakeFailed(snapshotId: string, reason: string): Promise<void> {
    const members = await this.uow.read((catalog) => catalog.snapshots.groupOf(snapshotId));
    for (const id of members) await this.failed(id, reason);
  }

  private async fail(tx: Tx, snapshot: SnapshotEntity, reason: string): Promise<void> {
    const { catalog } = tx;
    await catalog.snapshots.lockUploadEnd(snapshot.id);
    this.logger.warn(`snapshot ${snapshot.id} failed: ${reason}`);
    await catalog.snapshots.markFailed(snapshot.id, reason);
    await catalog.ledger.releaseClaims(snapshot.id, snapshot.region);
    await catalog.uploads.dropParts(snapshot.id);
    await catalog.uploads.dropStaged(snapshot.id);
    const job = await catalog.jobs.running(snapshot.id, snapshotJobKind(snapshot));
    if (job) await catalog.jobs.finish(job.id, { error: reason });
    if (snapshot.copyOf) await this.failVolumesAwaitingCopy(catalog, snapshot, reason);
    this.metrics.counter('island_snapshots_failed_total', 'Snapshots that failed').inc();
    const volume = await catalog.volumes.get(snapshot.volumeId);
    if (snapshot.pointInTime && volume.host && volume.imagePath) {
      await tx.send(PointsInTimeRelease, { host: volume.host, volumeId: volume.id, path: volume.imagePath, drop: [snapshot.pointInTime] });
    }
    await this.scheduleUploads(tx, snapshot.volumeId);
  }

  /**
   * Volumes created in a region from another region's snapshot wait (`creating`) for the copy into their
   * region, named by their source_snapshot_id: when the copy is available they take its content…
   */
  private async seedVolumesAwaitingCopy(catalog: Catalog, copy: SnapshotEntity): Promise<void> {
    for (const volume of await catalog.copies.volumesAwaiting(copy.id)) {
      await catalog.ledger.seedVolume(volume.id, copy);
      await catalog.volumes.setStatus(volume.id, 'available', null);
    }
  }

  /** …and when it fails they fail with its reason. */
  private async failVolumesAwaitingCopy(catalog: Catalog, copy: SnapshotEntity, reason: string): Promise<void> {
    for (const volume of await catalog.copies.volumesAwaiting(copy.id)) {
      await catalog.volumes.setStatus(volume.id, 'error', `copy of snapshot ${copy.copyOf} into ${copy.region} failed: ${reason}`);
    }
  }

  private lockSnapshot(tx: Tx, id: string): Promise<SnapshotEntity | null> {
    return tx.catalog.snapshots.lockWithVolume(id);
  }

  private async setStatus(tx: Tx, snapshot: SnapshotEntity, status: SnapshotEntity['status']): Promise<void> {
    await tx.catalog.snapshots.setStatus(snapshot.id, status);
    await this.progress(tx.catalog, snapshot, { ...snapshot, status });
  }

  /** The snapshot's job shows how far it got. */
  private async progress(catalog: Catalog, snapshot: SnapshotEntity, now: Pick<SnapshotEntity, 'status' | 'blocksDone' | 'blocksTotal'>): Promise<void> {
    await catalog.jobs.progressRunning(snapshot.id, snapshotJobKind(snapshot), snapshotProgress(now));
  }
}

/** A snapshot's own job: taking and uploading it, or copying it from another region. */
export function snapshotJobKind(s: { copyOf: string | null }): JobKind {
  return s.copyOf ? 'snapshot-copy' : 'snapshot';
}
