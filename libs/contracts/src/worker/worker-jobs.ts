import { ArrayMaxSize, ArrayMinSize, IsIn, IsOptional, IsString } from 'class-validator';
import { defineContract } from '../contract';
import { routes } from '../topology';
import {
  IsAbsolutePath,
  IsBlockIndexList,
  IsBlockSize,
  IsByteCount,
  IsCount,
  IsHostName,
  IsPointInTime,
  IsRegionName,
  IsResourceId,
} from '../validators';

/** Upper bound on blocks per upload part: parts are what several workers share. */
export const MAX_PART_BLOCKS = 1024;

/** Read, hash and upload some changed blocks of a snapshot from the host's image (a host's workers compete). */
export class SnapshotUploadPartJob {
  @IsHostName() host!: string;
  @IsResourceId() snapshotId!: string;
  @IsResourceId() volumeId!: string;
  @IsRegionName() region!: string;
  @IsAbsolutePath() path!: string;
  @IsPointInTime() pointInTime!: string;
  @IsBlockSize() blockSize!: number;
  @IsByteCount() sizeBytes!: number;
  @IsCount() partIndex!: number;
  @IsBlockIndexList() @ArrayMinSize(1) @ArrayMaxSize(MAX_PART_BLOCKS) blocks!: number[];
}
export const SnapshotUploadPart = defineContract({
  name: 'snapshot.upload-part',
  version: 1,
  kind: 'job',
  consumer: 'snapshot-worker',
  schema: SnapshotUploadPartJob,
  routingKey: (p: SnapshotUploadPartJob) => routes.hostWorker(p.host, 'snapshot.upload-part', 1),
});

/**
 * Write a snapshot's content into a new image on the host: for an attach (at `path`) or a revert
 * (beside it, at `targetPath`), then take the point in time that equals it.
 */
export class VolumeRestoreJob {
  @IsHostName() host!: string;
  @IsResourceId() volumeId!: string;
  @IsResourceId() operationId!: string;
  @IsString() @IsIn(['attach', 'revert']) purpose!: 'attach' | 'revert';
  @IsRegionName() region!: string;
  @IsString() manifestObject!: string;
  @IsAbsolutePath() targetPath!: string;
  @IsByteCount() sizeBytes!: number;
  @IsPointInTime() pointInTime!: string;
}
export const VolumeRestore = defineContract({
  name: 'volume.restore',
  version: 1,
  kind: 'job',
  consumer: 'snapshot-worker',
  schema: VolumeRestoreJob,
  routingKey: (p: VolumeRestoreJob) => routes.hostWorker(p.host, 'volume.restore', 1),
});

/** Write a committed snapshot's manifest to Swift from the catalog's block versions (any worker). */
export class SnapshotWriteManifestJob {
  @IsResourceId() snapshotId!: string;
  @IsResourceId() volumeId!: string;
  @IsString() projectId!: string;
  @IsRegionName() region!: string;
  @IsCount() seq!: number;
  @IsByteCount() sizeBytes!: number;
  @IsBlockSize() blockSize!: number;
  @IsString() name!: string;
  @IsString() volumeName!: string;
  @IsString() createdAt!: string;
  /** A region copy: the original snapshot, and the user volume whose replica `volumeId` is. */
  @IsOptional() @IsResourceId() copyOf?: string;
  @IsOptional() @IsResourceId() replicaOf?: string;
}
export const SnapshotWriteManifest = defineContract({
  name: 'snapshot.write-manifest',
  version: 1,
  kind: 'job',
  consumer: 'snapshot-worker',
  schema: SnapshotWriteManifestJob,
  routingKey: () => routes.anyWorker('snapshot.write-manifest', 1),
});

/**
 * Copy a snapshot into another region: the blocks the target region lacks (by name) and then, after the
 * commit, the manifest. Any worker (it needs no local data); a redelivered job resumes, skipping what arrived.
 */
export class SnapshotCopyJob {
  /** The copy: a snapshot of the replica volume in `region`, `uploading` while blocks move. */
  @IsResourceId() snapshotId!: string;
  @IsRegionName() region!: string;
  /** The snapshot read from (an original or another copy) and where its blocks and manifest are. */
  @IsResourceId() sourceSnapshotId!: string;
  @IsRegionName() sourceRegion!: string;
  @IsString() sourceManifest!: string;
  @IsBlockSize() blockSize!: number;
  @IsByteCount() sizeBytes!: number;
}
export const SnapshotCopy = defineContract({
  name: 'snapshot.copy',
  version: 1,
  kind: 'job',
  consumer: 'snapshot-worker',
  schema: SnapshotCopyJob,
  routingKey: () => routes.anyWorker('snapshot.copy', 1),
});
