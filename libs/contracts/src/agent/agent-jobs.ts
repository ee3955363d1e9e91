import 'reflect-metadata';
import { Type } from 'class-transformer';
import { IsBoolean, IsIn, IsOptional, IsString, ArrayMaxSize, ArrayMinSize, MaxLength, ValidateNested } from 'class-validator';
import { defineContract, endsSnapshot, endsVolumeOperation, FailurePolicy } from '../contract';
import { routes } from '../topology';
import { IsAbsolutePath, IsBlockSize, IsByteCount, IsHostName, IsPointInTime, IsRegionName, IsResourceId } from '../validators';

/** Work for the agent of the payload's host (it owns the host's images). */
const agentJob = <N extends string, P extends { host: string }>(name: N, schema: new () => P, onFailure: FailurePolicy<P>, version = 1) =>
  defineContract({ name, version, kind: 'job', consumer: 'node-agent', schema, routingKey: (p: P) => routes.agent(p.host, name, version), onFailure });

/** Create an empty qcow2 image for a volume on the host's disk (the lazy create at first attach). */
export class ImageCreateJob {
  @IsHostName() host!: string;
  @IsResourceId() volumeId!: string;
  @IsAbsolutePath() path!: string;
  @IsByteCount() sizeBytes!: number;
}
export const ImageCreate = agentJob('image.create', ImageCreateJob, endsVolumeOperation());

/**
 * Create a volume's image that fills lazily from a snapshot (attach with an export): an image of the volume's size whose
 * clusters are its blocks, backed by the snapshot as the host's snapshot server serves it, with the point in time that
 * equals the snapshot; the storage daemon copies the blocks in once the image is exported. Answered by VolumeRestored.
 */
export class ImageCreateFromSnapshotJob {
  @IsHostName() host!: string;
  @IsResourceId() volumeId!: string;
  @IsResourceId() operationId!: string;
  @IsString() projectId!: string;
  @IsRegionName() region!: string;
  @IsString() @MaxLength(1024) manifestObject!: string;
  @IsBoolean() manifestSealed!: boolean;
  @IsAbsolutePath() path!: string;
  @IsByteCount() sizeBytes!: number;
  @IsPointInTime() pointInTime!: string;
}
export const ImageCreateFromSnapshot = agentJob('image.create-from-snapshot', ImageCreateFromSnapshotJob, endsVolumeOperation());

/**
 * A diff asked for with the take, as SnapshotDiff would ask for it (base null: since empty): the API asks when the
 * snapshot will upload next against the volume's head as it stands, and the answer saves it a round trip to the agent.
 */
export class TakeDiffRequest {
  @IsOptional() @IsPointInTime() base!: string | null;
  @IsBlockSize() blockSize!: number;
}

/** Take a point in time: an internal qcow2 snapshot of the volume's image, now. */
export class SnapshotTakeJob {
  @IsHostName() host!: string;
  @IsResourceId() snapshotId!: string;
  @IsResourceId() volumeId!: string;
  @IsAbsolutePath() path!: string;
  @IsPointInTime() pointInTime!: string;
  @IsOptional() @ValidateNested() @Type(() => TakeDiffRequest) diff?: TakeDiffRequest;
}
export const SnapshotTake = agentJob('snapshot.take', SnapshotTakeJob, endsSnapshot());

/** One volume's point in time in a group: taken together with the group's others, at one instant. */
export class GroupPoint {
  @IsResourceId() snapshotId!: string;
  @IsResourceId() volumeId!: string;
  @IsAbsolutePath() path!: string;
  @IsPointInTime() pointInTime!: string;
  @IsOptional() @ValidateNested() @Type(() => TakeDiffRequest) diff?: TakeDiffRequest;
}

/**
 * Take points in time of several volumes of the host at one instant (a consistency group): exported
 * volumes in one QMP transaction of the host's storage daemon, file-mode ones while holding all their locks.
 */
export class SnapshotTakeGroupJob {
  @IsHostName() host!: string;
  @ArrayMinSize(1) @ArrayMaxSize(64) @ValidateNested({ each: true }) @Type(() => GroupPoint) points!: GroupPoint[];
}
export const SnapshotTakeGroup = agentJob('snapshot.take-group', SnapshotTakeGroupJob, { ends: 'snapshot-group', resourceId: (p) => p.points[0].snapshotId });

/**
 * Serve the volume's image to a VM through the host's qemu-storage-daemon: 'nbd', an NBD export on a unix
 * socket; 'raw', a file showing the raw bytes (FUSE export); 'block', that file behind a loop block device. The
 * daemon owns the image until ImageUnexport.
 */
export class ImageExportJob {
  @IsHostName() host!: string;
  @IsResourceId() volumeId!: string;
  @IsResourceId() operationId!: string;
  @IsAbsolutePath() path!: string;
  @IsIn(['nbd', 'raw', 'block']) export!: 'nbd' | 'raw' | 'block';
}
export const ImageExport = agentJob('image.export', ImageExportJob, endsVolumeOperation());

/** Stop serving the volume (detach): the export goes, the daemon closes the image, it is the agent's again. */
export class ImageUnexportJob {
  @IsHostName() host!: string;
  @IsResourceId() volumeId!: string;
  @IsResourceId() operationId!: string;
}
export const ImageUnexport = agentJob('image.unexport', ImageUnexportJob, endsVolumeOperation());

/** Find the blocks that changed between two points in time from qcow2 metadata (base null: since empty). */
export class SnapshotDiffJob {
  @IsHostName() host!: string;
  @IsResourceId() snapshotId!: string;
  @IsResourceId() volumeId!: string;
  @IsAbsolutePath() path!: string;
  @IsPointInTime() pointInTime!: string;
  @IsOptional() @IsPointInTime() base!: string | null;
  @IsBlockSize() blockSize!: number;
}
export const SnapshotDiff = agentJob('snapshot.diff', SnapshotDiffJob, endsSnapshot());

/**
 * Drop points in time that are no longer needed (the base a new commit replaced, or a failed snapshot's).
 * An explicit list, not "keep these": a late redelivery can never drop a point in time taken after it.
 */
export class PointsInTimeReleaseJob {
  @IsHostName() host!: string;
  @IsResourceId() volumeId!: string;
  @IsAbsolutePath() path!: string;
  @ArrayMaxSize(1024) @IsPointInTime({ each: true }) drop!: string[];
}
export const PointsInTimeRelease = agentJob('points-in-time.release', PointsInTimeReleaseJob, { ends: null, resourceId: (p) => p.volumeId });

/** Replace a volume's image by a file restored beside it (revert), atomically. */
export class ImageReplaceJob {
  @IsHostName() host!: string;
  @IsResourceId() volumeId!: string;
  @IsResourceId() operationId!: string;
  @IsAbsolutePath() path!: string;
  @IsAbsolutePath() replacementPath!: string;
}
export const ImageReplace = agentJob('image.replace', ImageReplaceJob, endsVolumeOperation());

/** Delete a volume's image (and any leftover restore files) from the host. */
export class ImageDeleteJob {
  @IsHostName() host!: string;
  @IsResourceId() volumeId!: string;
  @IsAbsolutePath() path!: string;
  @IsString() @IsIn(['volume-delete']) reason!: 'volume-delete';
}
export const ImageDelete = agentJob('image.delete', ImageDeleteJob, endsVolumeOperation());

/** Grow the volume's image to a new virtual size (extend; qcow2 images never shrink). */
export class ImageGrowJob {
  @IsHostName() host!: string;
  @IsResourceId() volumeId!: string;
  @IsResourceId() operationId!: string;
  @IsAbsolutePath() path!: string;
  @IsByteCount() sizeBytes!: number;
}
export const ImageGrow = agentJob('image.grow', ImageGrowJob, endsVolumeOperation());
