import { Injectable, Logger } from '@nestjs/common';
import { EntityManager } from 'typeorm';
import { revertVolumeVersions, SnapshotEntity, VolumeEntity } from '@island/catalog';
import {
  ImageCreatedEvent,
  ImageDeletedEvent,
  ImageExport,
  ImageExportedEvent,
  ImageUnexportedEvent,
  ImageGrownEvent,
  ImageReplace,
  ImageReplacedEvent,
  OperationFailedEvent,
  OperationProgressEvent,
  SnapshotCopy,
  SnapshotDiff,
  SnapshotTake,
  SnapshotTakeGroup,
  SnapshotUploadPart,
  SnapshotWriteManifest,
  VolumeRestoredEvent,
} from '@island/contracts';
import { Tx, UnitOfWork } from '../outbox/unit-of-work';
import { findJob, finishJob, jobProgress, runningJob } from './jobs';
import { SnapshotPipeline } from './snapshot-pipeline';
import { VolumeService } from './volume.service';

/** The jobs whose failure report names a snapshot (its resourceId): that snapshot fails, not a volume operation. */
const SNAPSHOT_JOBS: readonly string[] = [SnapshotTake, SnapshotTakeGroup, SnapshotDiff, SnapshotUploadPart, SnapshotWriteManifest, SnapshotCopy].map(
  (c) => c.name,
);

/** Volume state changes driven by events from agents and workers (attach, revert, delete). */
@Injectable()
export class VolumeLifecycle {
  private readonly logger = new Logger(VolumeLifecycle.name);

  constructor(
    private readonly uow: UnitOfWork,
    private readonly volumes: VolumeService,
    private readonly snapshots: SnapshotPipeline,
  ) {}

  async imageCreated(e: ImageCreatedEvent): Promise<void> {
    await this.uow.run(async (tx) => {
      const volume = await lockVolume(tx.m, e.volumeId);
      if (volume?.status !== 'attaching' || volume.host !== e.host) return;
      await this.placed(tx, volume, e.path, null);
    });
  }

  async restored(e: VolumeRestoredEvent): Promise<void> {
    await this.uow.run(async (tx) => {
      const { m } = tx;
      const volume = await lockVolume(m, e.volumeId);
      if (!volume || volume.host !== e.host) return;
      if (e.purpose === 'attach') {
        if (volume.status !== 'attaching') return;
        await this.placed(tx, volume, e.targetPath, e.pointInTime);
        return;
      }
      if (volume.status !== 'reverting' || !volume.imagePath) return;
      await tx.send(ImageReplace, {
        host: e.host,
        volumeId: volume.id,
        operationId: e.operationId,
        path: volume.imagePath,
        replacementPath: e.targetPath,
      });
      const job = await findJob(m, e.operationId);
      if (job) {
        await m.query(`UPDATE job SET params = params || $2::jsonb, progress = 90, updated_at = now() WHERE id = $1`, [
          job.id,
          JSON.stringify({ pointInTime: e.pointInTime }),
        ]);
      }
    });
  }

  /** The image exists on the host now: in use, or (attaching with an export) handed to the storage daemon next. */
  private async placed(tx: Tx, volume: VolumeEntity, path: string, pointInTime: string | null): Promise<void> {
    const { m } = tx;
    const job = await runningJob(m, volume.id, 'attach');
    if (volume.exportKind && volume.host && job) {
      await m.update(VolumeEntity, { id: volume.id }, { imagePath: path, pointInTime, updatedAt: new Date() });
      await tx.send(ImageExport, { host: volume.host, volumeId: volume.id, operationId: job.id, path, export: volume.exportKind });
      return;
    }
    await m.update(
      VolumeEntity,
      { id: volume.id },
      { status: 'in-use', attached: true, imagePath: path, pointInTime, statusReason: null, updatedAt: new Date() },
    );
    if (job) await finishJob(m, job.id);
  }

  /** The storage daemon serves the image: attached, the VM connects to the NBD URI. */
  async exported(e: ImageExportedEvent): Promise<void> {
    await this.uow.run(async ({ m }) => {
      const volume = await lockVolume(m, e.volumeId);
      if (volume?.status !== 'attaching' || volume.host !== e.host || !volume.exportKind) return;
      await m.update(
        VolumeEntity,
        { id: volume.id },
        {
          status: 'in-use',
          attached: true,
          nbdUri: e.nbd ?? null,
          rawPath: e.raw ?? null,
          blockDevice: e.device ?? null,
          statusReason: null,
          updatedAt: new Date(),
        },
      );
      await finishJob(m, e.operationId);
    });
  }

  /** The storage daemon let the image go: detached, the image is the agent's again. */
  async unexported(e: ImageUnexportedEvent): Promise<void> {
    await this.uow.run(async ({ m }) => {
      const volume = await lockVolume(m, e.volumeId);
      if (volume?.status !== 'detaching' || volume.host !== e.host) return;
      await m.update(
        VolumeEntity,
        { id: volume.id },
        { status: 'available', attached: false, exportKind: null, nbdUri: null, rawPath: null, blockDevice: null, updatedAt: new Date() },
      );
      await finishJob(m, e.operationId);
    });
  }

  /** The agent swapped in the restored image: the volume's head becomes the target snapshot's content. */
  async replaced(e: ImageReplacedEvent): Promise<void> {
    await this.uow.run(async (tx) => {
      const { m } = tx;
      const volume = await lockVolume(m, e.volumeId);
      const job = await findJob(m, e.operationId);
      if (volume?.status !== 'reverting' || job?.status !== 'running') return;
      const target = await m.getRepository(SnapshotEntity).findOneByOrFail({ id: String(job.params.snapshotId) });
      const seq = await this.volumes.nextSeq(m, volume.id);
      await revertVolumeVersions(m, target, seq);
      const pointInTime = String(job.params.pointInTime);
      await m.update(VolumeEntity, { id: volume.id }, { status: 'available', pointInTime, statusReason: null, updatedAt: new Date() });
      await finishJob(m, job.id);
      this.logger.log(`volume ${volume.id} reverted to snapshot ${target.id} (seq ${target.seq}) at seq ${seq}`);
    });
  }

  async grown(e: ImageGrownEvent): Promise<void> {
    await this.uow.run(async ({ m }) => {
      const volume = await lockVolume(m, e.volumeId);
      const job = await findJob(m, e.operationId);
      if (volume?.status !== 'extending' || job?.status !== 'running') return;
      const status = job.params.previousStatus === 'in-use' ? 'in-use' : 'available';
      await m.update(VolumeEntity, { id: volume.id }, { sizeBytes: e.sizeBytes, status, statusReason: null, updatedAt: new Date() });
      await finishJob(m, job.id);
    });
  }

  async imageDeleted(e: ImageDeletedEvent): Promise<void> {
    await this.uow.run(async ({ m }) => {
      const volume = await lockVolume(m, e.volumeId);
      if (volume?.status !== 'deleting') return;
      await this.volumes.finishDelete(m, volume);
    });
  }

  async progress(e: OperationProgressEvent): Promise<void> {
    await this.uow.run(({ m }) => jobProgress(m, e.operationId, Math.min(99, Math.floor((100 * e.done) / Math.max(1, e.total)))));
  }

  /** A job failed for good: the operation it belongs to fails with the reason; nothing is left half done. */
  async failed(e: OperationFailedEvent): Promise<void> {
    if (e.job === SnapshotTakeGroup.name) {
      await this.snapshots.groupTakeFailed(e.resourceId, `${e.job} on ${e.host ?? 'a worker'}: ${e.reason}`);
      return;
    }
    if (SNAPSHOT_JOBS.includes(e.job)) {
      await this.snapshots.failed(e.resourceId, `${e.job} on ${e.host ?? 'a worker'}: ${e.reason}`);
      return;
    }
    await this.uow.run(async ({ m }) => {
      const volume = await lockVolume(m, e.resourceId);
      if (!volume) return;
      const reason = `${e.job} on ${e.host ?? 'a worker'}: ${e.reason}`;
      this.logger.warn(`volume ${volume.id}: ${reason}`);
      if (volume.status === 'attaching') {
        const job = await runningJob(m, volume.id, 'attach');
        if (job?.params.reattach === true) {
          // asked again while attached: the export that served before is still the guest's
          await m.update(VolumeEntity, { id: volume.id }, { status: 'in-use', statusReason: reason, updatedAt: new Date() });
        } else {
          // an image never placed returns the volume to unplaced; a placed one whose export failed stays where it is
          const host = volume.imagePath ? volume.host : null;
          await m.update(VolumeEntity, { id: volume.id }, { status: 'available', host, exportKind: null, statusReason: reason, updatedAt: new Date() });
        }
        if (job) await finishJob(m, job.id, { error: reason });
      } else if (volume.status === 'reverting') {
        await m.update(VolumeEntity, { id: volume.id }, { status: 'available', statusReason: reason, updatedAt: new Date() });
        const job = await runningJob(m, volume.id, 'revert');
        if (job) await finishJob(m, job.id, { error: reason });
      } else if (volume.status === 'extending') {
        const job = await runningJob(m, volume.id, 'extend');
        const status = job?.params.previousStatus === 'in-use' ? 'in-use' : 'available';
        await m.update(VolumeEntity, { id: volume.id }, { status, statusReason: reason, updatedAt: new Date() });
        if (job) await finishJob(m, job.id, { error: reason });
      } else if (volume.status === 'deleting') {
        await m.update(VolumeEntity, { id: volume.id }, { status: 'error', statusReason: reason, updatedAt: new Date() });
        const job = await runningJob(m, volume.id, 'volume-delete');
        if (job) await finishJob(m, job.id, { error: reason });
      }
    });
  }
}

async function lockVolume(m: EntityManager, id: string): Promise<VolumeEntity | null> {
  return m.getRepository(VolumeEntity).findOne({ where: { id }, lock: { mode: 'pessimistic_write' } });
}
