import { Injectable } from '@nestjs/common';
import {
  AgentHeartbeat,
  AgentHeartbeatEvent,
  ImageCreated,
  ImageCreatedEvent,
  ImageDeleted,
  ImageDeletedEvent,
  ImageExported,
  ImageExportedEvent,
  ImageServedAgain,
  ImageServedEvent,
  ImageUnexported,
  ImageUnexportedEvent,
  ImageGrown,
  ImageGrownEvent,
  ImageFilled,
  ImageFilledEvent,
  ImageFillFailed,
  ImageFillFailedEvent,
  ImageFillProgressed,
  ImageFillProgressedEvent,
  ImageReplaced,
  ImageReplacedEvent,
  OperationFailed,
  OperationFailedEvent,
  OperationFinished,
  OperationFinishedEvent,
  OperationProgress,
  OperationProgressEvent,
  SnapshotCopyProgressed,
  SnapshotCopyProgressedEvent,
  SnapshotCopyTransferred,
  SnapshotCopyTransferredEvent,
  SnapshotDiffed,
  SnapshotDiffedEvent,
  SnapshotManifestWritten,
  SnapshotManifestWrittenEvent,
  SnapshotPartUploaded,
  SnapshotPartUploadedEvent,
  SnapshotTaken,
  SnapshotTakenEvent,
  VolumeRestored,
  VolumeRestoredEvent,
} from '@island/contracts';
import { OnMessage } from '@island/messaging';
import { HostService } from '../requests/host.service';
import { OperationsService } from '../requests/operations.service';
import { SnapshotPipeline } from '../state-machines/snapshot-pipeline';
import { VolumeLifecycle } from '../state-machines/volume-lifecycle';

/** What the agents and workers report, applied to the catalog (each handler is idempotent). */
@Injectable()
export class CatalogEvents {
  constructor(
    private readonly snapshots: SnapshotPipeline,
    private readonly volumes: VolumeLifecycle,
    private readonly hosts: HostService,
    private readonly operations: OperationsService,
  ) {}

  @OnMessage(SnapshotTaken)
  snapshotTaken(e: SnapshotTakenEvent) {
    return this.snapshots.taken(e);
  }

  @OnMessage(SnapshotDiffed)
  snapshotDiffed(e: SnapshotDiffedEvent) {
    return this.snapshots.diffed(e);
  }

  @OnMessage(SnapshotPartUploaded)
  snapshotPartUploaded(e: SnapshotPartUploadedEvent) {
    return this.snapshots.partUploaded(e);
  }

  @OnMessage(SnapshotCopyProgressed)
  snapshotCopyProgressed(e: SnapshotCopyProgressedEvent) {
    return this.snapshots.copyProgressed(e);
  }

  @OnMessage(SnapshotCopyTransferred)
  snapshotCopyTransferred(e: SnapshotCopyTransferredEvent) {
    return this.snapshots.copyTransferred(e);
  }

  @OnMessage(SnapshotManifestWritten)
  snapshotManifestWritten(e: SnapshotManifestWrittenEvent) {
    return this.snapshots.manifestWritten(e);
  }

  @OnMessage(ImageCreated)
  imageCreated(e: ImageCreatedEvent) {
    return this.volumes.imageCreated(e);
  }

  @OnMessage(VolumeRestored)
  volumeRestored(e: VolumeRestoredEvent) {
    return this.volumes.restored(e);
  }

  @OnMessage(ImageReplaced)
  imageReplaced(e: ImageReplacedEvent) {
    return this.volumes.replaced(e);
  }

  @OnMessage(ImageGrown)
  imageGrown(e: ImageGrownEvent) {
    return this.volumes.grown(e);
  }

  @OnMessage(ImageFillProgressed)
  imageFillProgressed(e: ImageFillProgressedEvent) {
    return this.volumes.fillProgressed(e);
  }

  @OnMessage(ImageFilled)
  imageFilled(e: ImageFilledEvent) {
    return this.volumes.filled(e);
  }

  @OnMessage(ImageFillFailed)
  imageFillFailed(e: ImageFillFailedEvent) {
    return this.volumes.fillFailed(e);
  }

  @OnMessage(ImageExported)
  imageExported(e: ImageExportedEvent) {
    return this.volumes.exported(e);
  }

  @OnMessage(ImageServedAgain)
  imageServedAgain(e: ImageServedEvent) {
    return this.volumes.servedAgain(e);
  }

  @OnMessage(ImageUnexported)
  imageUnexported(e: ImageUnexportedEvent) {
    return this.volumes.unexported(e);
  }

  @OnMessage(ImageDeleted)
  imageDeleted(e: ImageDeletedEvent) {
    return this.volumes.imageDeleted(e);
  }

  @OnMessage(OperationProgress)
  operationProgress(e: OperationProgressEvent) {
    return this.volumes.progress(e);
  }

  /** A job failed for good: its contract's failure policy (`ends`) says what ends with it. */
  @OnMessage(OperationFailed)
  operationFailed(e: OperationFailedEvent) {
    const reason = `${e.job} on ${e.host ?? 'a worker'}: ${e.reason}`;
    switch (e.ends) {
      case 'snapshot':
        return this.snapshots.failed(e.resourceId, reason);
      case 'snapshot-manifest':
        return this.snapshots.manifestWriteFailed(e.resourceId, reason);
      case 'snapshot-group':
        return this.snapshots.groupTakeFailed(e.resourceId, reason);
      case 'volume-operation':
        return this.volumes.failed(e.resourceId, reason);
      case 'region-operation':
        return this.operations.failed(e.operationId ?? e.resourceId, e.reason);
    }
  }

  @OnMessage(OperationFinished)
  operationFinished(e: OperationFinishedEvent) {
    return this.operations.finished(e);
  }

  @OnMessage(AgentHeartbeat)
  agentHeartbeat(e: AgentHeartbeatEvent) {
    return this.hosts.heartbeat(e);
  }
}
