import { Injectable, Logger } from '@nestjs/common';
import { commitCopyVersions, commitSnapshotVersions, releaseClaims, SnapshotEntity, sqlRows, stageSnapshotChanges, VolumeEntity } from '@island/catalog';
import {
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
} from '@island/contracts';
import { MetricsService } from '@island/platform';
import { Tx, UnitOfWork } from '../outbox/unit-of-work';
import { endUploadLock, lockSnapshot } from './catalog-queries';
import { failVolumesAwaitingCopy, seedVolumesAwaitingCopy } from './copy-waiters';
import { finishJob, jobProgress, runningJob, snapshotJobKind } from './jobs';
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
      await this.scheduleUploads(tx, snapshot.volumeId);
    });
  }

  /**
   * Starts the next upload of a volume when none runs: the oldest pending snapshot diffs against the
   * volume's head point in time, so uploads of one volume commit in order.
   */
  async scheduleUploads(tx: Tx, volumeId: string): Promise<void> {
    const { m } = tx;
    const active = await m.getRepository(SnapshotEntity).count({
      where: [
        { volumeId, status: 'uploading' },
        { volumeId, status: 'committing' },
      ],
    });
    if (active > 0) return;
    const next = await m.getRepository(SnapshotEntity).findOne({
      where: { volumeId, status: 'pending' },
      order: { seq: 'ASC' },
      lock: { mode: 'pessimistic_write' },
    });
    if (!next) return;
    const volume = await m.getRepository(VolumeEntity).findOneByOrFail({ id: volumeId });
    await this.setStatus(tx, next, 'uploading');
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
      const { m } = tx;
      const snapshot = await this.lockSnapshot(tx, e.snapshotId);
      if (snapshot?.status !== 'uploading') return;
      const [existing] = await sqlRows<{ n: string }>(m, `SELECT count(*) AS n FROM snapshot_part WHERE snapshot_id = $1`, [snapshot.id]);
      if (Number(existing.n) > 0) return; // a redelivered diff: the parts exist already
      const volume = await m.getRepository(VolumeEntity).findOneByOrFail({ id: snapshot.volumeId });
      const blocks = e.changed.flatMap((run) => Array.from({ length: run.count }, (_, i) => run.start + i));
      const lastBlock = Math.ceil(snapshot.sizeBytes / snapshot.blockSize) - 1;
      const outside = blocks.find((b) => b > lastBlock);
      if (outside !== undefined) {
        await this.fail(tx, snapshot, `agent reported block ${outside} changed, beyond the volume's last block ${lastBlock}`);
        return;
      }
      await m.update(SnapshotEntity, { id: snapshot.id }, { blocksTotal: blocks.length, bytesChanged: e.bytesChanged, updatedAt: new Date() });
      if (blocks.length === 0) {
        await this.commit(tx, { ...snapshot, blocksTotal: 0 }, volume);
        return;
      }
      const parts = splitIntoParts(blocks, snapshot.blockSize);
      for (const [part, slice] of parts.entries()) {
        await m.query(`INSERT INTO snapshot_part (snapshot_id, part_index, blocks, status) VALUES ($1, $2, $3, 'queued')`, [snapshot.id, part, slice]);
        await tx.send(SnapshotUploadPart, {
          host: volume.host!,
          snapshotId: snapshot.id,
          volumeId: volume.id,
          region: snapshot.region,
          path: volume.imagePath!,
          pointInTime: snapshot.pointInTime!,
          blockSize: snapshot.blockSize,
          sizeBytes: snapshot.sizeBytes,
          partIndex: part,
          blocks: slice,
        });
      }
    });
  }

  async partUploaded(e: SnapshotPartUploadedEvent): Promise<void> {
    await this.uow.run(async (tx) => {
      const { m } = tx;
      // parts still uploading keep claiming blocks meanwhile (commit and fail take the stronger lock)
      const snapshot = await lockSnapshot(m, e.snapshotId, 'for_no_key_update');
      if (snapshot?.status !== 'uploading') return;
      const [part] = await sqlRows<{ blocks: string[] }>(
        m,
        `UPDATE snapshot_part SET status = 'done', done_at = now() WHERE snapshot_id = $1 AND part_index = $2 AND status = 'queued' RETURNING blocks`,
        [snapshot.id, e.partIndex],
      );
      if (!part) return; // already counted
      const expected = part.blocks.map(Number).sort((a, b) => a - b);
      const got = e.blocks.map((b) => b.index).sort((a, b) => a - b);
      if (expected.length !== got.length || expected.some((b, i) => b !== got[i])) {
        await this.fail(tx, snapshot, `part ${e.partIndex} reported blocks that differ from the blocks it was given`);
        return;
      }
      await stageSnapshotChanges(
        m,
        snapshot.id,
        e.blocks.map((b) => b.index),
        e.blocks.map((b) => (b.hash === null ? null : Buffer.from(b.hash, 'hex'))),
      );
      const [updated] = await sqlRows<SnapshotRow>(
        m,
        `UPDATE snapshot SET blocks_done = blocks_done + $2, bytes_uploaded = bytes_uploaded + $3, bytes_stored = bytes_stored + $4,
                blocks_uploaded = blocks_uploaded + $5, blocks_reused = blocks_reused + $6, updated_at = now()
          WHERE id = $1 RETURNING blocks_done, blocks_total`,
        [snapshot.id, e.blocks.length, e.bytesUploaded, e.bytesStored, e.blocksUploaded, e.blocksReused],
      );
      this.metrics.counter('island_snapshot_bytes_uploaded_total', 'Compressed bytes of snapshot blocks PUT to Swift').inc(e.bytesUploaded);
      const job = await runningJob(m, snapshot.id, snapshotJobKind(snapshot));
      if (job) await jobProgress(m, job.id, snapshotProgress({ status: 'uploading', blocksDone: updated.blocks_done, blocksTotal: updated.blocks_total }));
      const [open] = await sqlRows<{ n: string }>(m, `SELECT count(*) AS n FROM snapshot_part WHERE snapshot_id = $1 AND status = 'queued'`, [snapshot.id]);
      if (Number(open.n) === 0) {
        const volume = await m.getRepository(VolumeEntity).findOneByOrFail({ id: snapshot.volumeId });
        await this.commit(tx, snapshot, volume);
      }
    });
  }

  /** Some blocks of a region copy arrived (the worker recorded them and their counters): progress and metrics. */
  async copyProgressed(e: SnapshotCopyProgressedEvent): Promise<void> {
    this.metrics.counter('island_copy_bytes_total', 'Bytes of blocks copied between regions').inc(e.bytesCopied);
    await this.uow.run(async (tx) => {
      const snapshot = await tx.m.getRepository(SnapshotEntity).findOneBy({ id: e.snapshotId });
      if (snapshot?.status !== 'uploading' || !snapshot.copyOf) return;
      const job = await runningJob(tx.m, snapshot.id, 'snapshot-copy');
      if (job) await jobProgress(tx.m, job.id, snapshotProgress(snapshot));
    });
  }

  /** Every block of a region copy is there and its block map staged: it commits like a snapshot. */
  async copyTransferred(e: SnapshotCopyTransferredEvent): Promise<void> {
    await this.uow.run(async (tx) => {
      const { m } = tx;
      const snapshot = await this.lockSnapshot(tx, e.snapshotId);
      if (snapshot?.status !== 'uploading' || !snapshot.copyOf) return;
      const [staged] = await sqlRows<{ n: string }>(m, `SELECT count(*) AS n FROM snapshot_change WHERE snapshot_id = $1`, [snapshot.id]);
      if (Number(staged.n) !== e.entries) {
        await this.fail(tx, snapshot, `copy staged ${staged.n} block entries, its source manifest has ${e.entries}`);
        return;
      }
      await m.query(
        `UPDATE snapshot SET blocks_total = $2, blocks_done = $2, blocks_reused = GREATEST(0, $2 - blocks_uploaded), updated_at = now() WHERE id = $1`,
        [snapshot.id, e.distinctBlocks],
      );
      const volume = await m.getRepository(VolumeEntity).findOneByOrFail({ id: snapshot.volumeId });
      await this.commit(tx, snapshot, volume);
    });
  }

  /**
   * Commits a snapshot whose blocks are all in Swift: its versions enter the ledger and it becomes the
   * volume's head; the manifest is written next, the replaced point in time dropped, the next upload started.
   */
  async commit(tx: Tx, snapshot: SnapshotEntity, volume: VolumeEntity): Promise<void> {
    const { m } = tx;
    await endUploadLock(m, snapshot.id);
    await m.update(SnapshotEntity, { id: snapshot.id }, { status: 'committing', updatedAt: new Date() });
    await (snapshot.copyOf ? commitCopyVersions(m, snapshot) : commitSnapshotVersions(m, snapshot));
    await m.update(SnapshotEntity, { id: snapshot.id }, { status: 'sealing', updatedAt: new Date() });
    await m.query(`DELETE FROM snapshot_part WHERE snapshot_id = $1`, [snapshot.id]);
    if (snapshot.pointInTime) {
      await m.update(VolumeEntity, { id: volume.id }, { pointInTime: snapshot.pointInTime, updatedAt: new Date() });
      if (volume.pointInTime && volume.host && volume.imagePath) {
        await tx.send(PointsInTimeRelease, { host: volume.host, volumeId: volume.id, path: volume.imagePath, drop: [volume.pointInTime] });
      }
    }
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
    if (snapshot.pointInTime) await this.scheduleUploads(tx, volume.id);
  }

  async manifestWritten(e: SnapshotManifestWrittenEvent): Promise<void> {
    await this.uow.run(async (tx) => {
      const snapshot = await this.lockSnapshot(tx, e.snapshotId);
      if (snapshot?.status !== 'sealing') return;
      await tx.m.update(
        SnapshotEntity,
        { id: snapshot.id },
        { status: 'available', manifestObject: e.manifestObject, committedAt: new Date(), updatedAt: new Date() },
      );
      const job = await runningJob(tx.m, snapshot.id, snapshotJobKind(snapshot));
      if (job) await finishJob(tx.m, job.id);
      if (snapshot.copyOf) await seedVolumesAwaitingCopy(tx.m, snapshot);
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
   * A group's points in time are taken together, so a take that failed for good failed for every snapshot of
   * the group (the agent names the first): each one still being taken fails with the reason.
   */
  async groupTakeFailed(snapshotId: string, reason: string): Promise<void> {
    const members = await this.uow.run(async ({ m }) => {
      const named = await m.getRepository(SnapshotEntity).findOne({ where: { id: snapshotId } });
      if (!named?.groupId) return [snapshotId];
      return (await m.getRepository(SnapshotEntity).find({ where: { groupId: named.groupId }, order: { id: 'ASC' } })).map((s) => s.id);
    });
    for (const id of members) await this.failed(id, reason);
  }

  private async fail(tx: Tx, snapshot: SnapshotEntity, reason: string): Promise<void> {
    const { m } = tx;
    await endUploadLock(m, snapshot.id);
    this.logger.warn(`snapshot ${snapshot.id} failed: ${reason}`);
    await m.update(SnapshotEntity, { id: snapshot.id }, { status: 'error', statusReason: reason, updatedAt: new Date() });
    await releaseClaims(m, snapshot.id, snapshot.region);
    await m.query(`DELETE FROM snapshot_part WHERE snapshot_id = $1`, [snapshot.id]);
    await m.query(`DELETE FROM snapshot_change WHERE snapshot_id = $1`, [snapshot.id]);
    const job = await runningJob(m, snapshot.id, snapshotJobKind(snapshot));
    if (job) await finishJob(m, job.id, { error: reason });
    if (snapshot.copyOf) await failVolumesAwaitingCopy(m, snapshot, reason);
    this.metrics.counter('island_snapshots_failed_total', 'Snapshots that failed').inc();
    const volume = await m.getRepository(VolumeEntity).findOneByOrFail({ id: snapshot.volumeId });
    if (snapshot.pointInTime && volume.host && volume.imagePath) {
      await tx.send(PointsInTimeRelease, { host: volume.host, volumeId: volume.id, path: volume.imagePath, drop: [snapshot.pointInTime] });
    }
    await this.scheduleUploads(tx, snapshot.volumeId);
  }

  private lockSnapshot(tx: Tx, id: string): Promise<SnapshotEntity | null> {
    return lockSnapshot(tx.m, id);
  }

  private async setStatus(tx: Tx, snapshot: SnapshotEntity, status: SnapshotEntity['status']): Promise<void> {
    await tx.m.update(SnapshotEntity, { id: snapshot.id }, { status, updatedAt: new Date() });
    const job = await runningJob(tx.m, snapshot.id, snapshotJobKind(snapshot));
    if (job) await jobProgress(tx.m, job.id, snapshotProgress({ ...snapshot, status }));
  }
}

interface SnapshotRow {
  blocks_done: number;
  blocks_total: number;
}
