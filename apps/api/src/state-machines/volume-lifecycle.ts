import { Injectable, Logger } from '@nestjs/common';
import { Catalog, Job, JobKind, VolumeEntity } from '@island/catalog';
import {
  ImageCreatedEvent,
  ImageDeletedEvent,
  ImageExport,
  ImageExportedEvent,
  ImageServedEvent,
  ImageFilledEvent,
  ImageFillFailedEvent,
  ImageFillProgressedEvent,
  ImageUnexportedEvent,
  ImageGrownEvent,
  ImageReplace,
  ImageReplacedEvent,
  OperationProgressEvent,
  VolumeRestoredEvent,
} from '@island/contracts';
import { Tx, UnitOfWork } from '../outbox/unit-of-work';
import { finishVolumeDelete } from '../requests/volume.service';

/** Volume state changes driven by events from agents and workers (attach, revert, delete). */
@Injectable()
export class VolumeLifecycle {
  private readonly logger = new Logger(VolumeLifecycle.name);

  constructor(private readonly uow: UnitOfWork) {}

  async imageCreated(e: ImageCreatedEvent): Promise<void> {
    await this.uow.run(async (tx) => {
      const volume = await tx.catalog.volumes.lock(e.volumeId);
      if (volume?.status !== 'attaching' || volume.host !== e.host) return;
      await this.placed(tx, volume, e.path, null);
    });
  }

  async restored(e: VolumeRestoredEvent): Promise<void> {
    await this.uow.run(async (tx) => {
      const { catalog } = tx;
      const volume = await catalog.volumes.lock(e.volumeId);
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
      await catalog.jobs.recordRevertRestored(e.operationId, e.pointInTime);
    });
  }

  /** The image exists on the host now: in use, or (attaching with an export) handed to the storage daemon next. */
  private async placed(tx: Tx, volume: VolumeEntity, path: string, pointInTime: string | null): Promise<void> {
    const { catalog } = tx;
    const job = await catalog.jobs.running(volume.id, 'attach');
    if (volume.exportKind && volume.host && job) {
      await catalog.volumes.recordImage(volume.id, path, pointInTime);
      await tx.send(ImageExport, { host: volume.host, volumeId: volume.id, operationId: job.id, path, export: volume.exportKind });
      return;
    }
    await catalog.volumes.markAttached(volume.id, { imagePath: path, pointInTime });
    if (job) await catalog.jobs.finish(job.id);
  }

  /** The storage daemon serves the image: attached, the VM connects to the NBD URI. */
  async exported(e: ImageExportedEvent): Promise<void> {
    await this.uow.run(async ({ catalog }) => {
      const volume = await catalog.volumes.lock(e.volumeId);
      if (volume?.status !== 'attaching' || volume.host !== e.host || !volume.exportKind) return;
      await catalog.volumes.markAttached(volume.id, { nbdUri: e.nbd ?? null, rawPath: e.raw ?? null, blockDevice: e.device ?? null });
      await catalog.jobs.finish(e.operationId);
    });
  }

  /**
   * The host serves an attached volume again by itself (a host reboot, a storage daemon that died): the connection names
   * what serves it now. One the host answers for an attach in flight is that attach's (exported); one of another kind
   * of export than the volume's is of an attach since detached (the host tells again until its broker takes it).
   */
  async servedAgain(e: ImageServedEvent): Promise<void> {
    await this.uow.run(async ({ catalog }) => {
      const volume = await catalog.volumes.lock(e.volumeId);
      if (volume?.host !== e.host || !volume.attached || !volume.exportKind || volume.status === 'attaching') return;
      if (!connectionOfKind(volume.exportKind, e)) return;
      await catalog.volumes.recordConnection(volume.id, { nbdUri: e.nbd ?? null, rawPath: e.raw ?? null, blockDevice: e.device ?? null });
    });
  }

  /** A lazily filled volume's progress: what `island volume show` reports as `restoring N %`. */
  async fillProgressed(e: ImageFillProgressedEvent): Promise<void> {
    await this.uow.run(async ({ catalog }) => {
      const volume = await catalog.volumes.lock(e.volumeId);
      if (volume?.host !== e.host || !volume.fillStatus) return;
      await catalog.volumes.recordFillProgress(volume.id, e.done, e.total);
    });
  }

  /** The image holds every block of its snapshot: an ordinary local image from now on. */
  async filled(e: ImageFilledEvent): Promise<void> {
    await this.uow.run(async ({ catalog }) => {
      const volume = await catalog.volumes.lock(e.volumeId);
      if (volume?.host !== e.host) return;
      await catalog.volumes.finishFill(volume.id);
    });
  }

  /** The fill stopped for good: the guest got an I/O error for the blocks that could not be read; the volume says why. */
  async fillFailed(e: ImageFillFailedEvent): Promise<void> {
    await this.uow.run(async ({ catalog }) => {
      const volume = await catalog.volumes.lock(e.volumeId);
      if (volume?.host !== e.host || !volume.fillStatus) return;
      this.logger.warn(`volume ${volume.id}: ${e.reason}`);
      await catalog.volumes.failFill(volume.id, e.reason);
    });
  }

  /** The storage daemon let the image go: detached, the image is the agent's again. */
  async unexported(e: ImageUnexportedEvent): Promise<void> {
    await this.uow.run(async ({ catalog }) => {
      const volume = await catalog.volumes.lock(e.volumeId);
      if (volume?.status !== 'detaching' || volume.host !== e.host) return;
      await catalog.volumes.markDetached(volume.id);
      await catalog.jobs.finish(e.operationId);
    });
  }

  /** The agent swapped in the restored image: the volume's head becomes the target snapshot's content. */
  async replaced(e: ImageReplacedEvent): Promise<void> {
    await this.uow.run(async (tx) => {
      const { catalog } = tx;
      const volume = await catalog.volumes.lock(e.volumeId);
      const job = await catalog.jobs.lockOfKind(e.operationId, 'revert');
      if (volume?.status !== 'reverting' || job?.status !== 'running') return;
      if (!job.params.pointInTime) throw new Error(`revert ${job.id} was swapped in before its restored image was recorded`);
      const target = await catalog.snapshots.get(job.params.snapshotId);
      const seq = await catalog.volumes.takeSeq(volume.id);
      await catalog.ledger.revertVolume(target, seq);
      await catalog.volumes.markReverted(volume.id, job.params.pointInTime);
      await catalog.jobs.finish(job.id);
      this.logger.log(`volume ${volume.id} reverted to snapshot ${target.id} (seq ${target.seq}) at seq ${seq}`);
    });
  }

  async grown(e: ImageGrownEvent): Promise<void> {
    await this.uow.run(async ({ catalog }) => {
      const volume = await catalog.volumes.lock(e.volumeId);
      const job = await catalog.jobs.lockOfKind(e.operationId, 'extend');
      if (volume?.status !== 'extending' || job?.status !== 'running') return;
      await catalog.volumes.markGrown(volume.id, e.sizeBytes, job.params.previousStatus);
      await catalog.jobs.finish(job.id);
    });
  }

  async imageDeleted(e: ImageDeletedEvent): Promise<void> {
    await this.uow.run(async ({ catalog }) => {
      const volume = await catalog.volumes.lock(e.volumeId);
      if (volume?.status !== 'deleting') return;
      await finishVolumeDelete(catalog, volume);
    });
  }

  async progress(e: OperationProgressEvent): Promise<void> {
    await this.uow.run(({ catalog }) => catalog.jobs.progress(e.operationId, Math.min(99, Math.floor((100 * e.done) / Math.max(1, e.total)))));
  }

  /** A step of the operation the volume is in failed for good: the operation fails with the reason; nothing is left half done. */
  async failed(volumeId: string, reason: string): Promise<void> {
    await this.uow.run(async ({ catalog }) => {
      const volume = await catalog.volumes.lock(volumeId);
      if (!volume) return;
      const operation = VOLUME_OPERATION_OF[volume.status];
      if (!operation) return;
      this.logger.warn(`volume ${volume.id}: ${reason}`);
      const job = await catalog.jobs.running(volume.id, operation);
      await this.abandon(catalog, volume, job, reason);
      if (job) await catalog.jobs.finish(job.id, { error: reason });
    });
  }

  /** Where a volume goes when the operation it is in fails: back where it was before it, with the reason. */
  private async abandon(catalog: Catalog, volume: VolumeEntity, job: Job | null, reason: string): Promise<void> {
    switch (volume.status) {
      case 'attaching':
        if (job?.kind === 'attach' && job.params.reattach) {
          // asked again while attached: the export that served before is still the guest's
          await catalog.volumes.setStatus(volume.id, 'in-use', reason);
        } else {
          // an image never placed returns the volume to unplaced; a placed one whose export failed stays where it is
          await catalog.volumes.abandonAttach(volume.id, volume.imagePath ? volume.host : null, reason);
        }
        return;
      case 'reverting':
        await catalog.volumes.setStatus(volume.id, 'available', reason);
        return;
      case 'extending':
        await catalog.volumes.setStatus(volume.id, job?.kind === 'extend' ? job.params.previousStatus : 'available', reason);
        return;
      case 'detaching':
        // the storage daemon still serves the image: the volume stays attached
        await catalog.volumes.setStatus(volume.id, 'in-use', reason);
        return;
      case 'deleting':
        await catalog.volumes.setStatus(volume.id, 'error', reason);
        return;
    }
  }
}

/** The operation a volume in a transitional status is in. */
const VOLUME_OPERATION_OF: Partial<Record<VolumeEntity['status'], JobKind>> = {
  attaching: 'attach',
  detaching: 'detach',
  reverting: 'revert',
  extending: 'extend',
  deleting: 'volume-delete',
};

/** Whether an event names a connection of the export kind: an NBD URI for 'nbd', a file for 'raw', a file and its loop device for 'block'. */
function connectionOfKind(kind: NonNullable<VolumeEntity['exportKind']>, e: ImageServedEvent): boolean {
  return kind === 'nbd' ? e.nbd != null && e.raw == null : e.raw != null && e.nbd == null && (kind === 'block') === (e.device != null);
}
