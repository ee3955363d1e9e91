import { ArrayMaxSize, ArrayMinSize, IsBoolean, IsIn, IsOptional, IsString } from 'class-validator';
import { defineContract, endsSnapshot, endsVolumeOperation, FailurePolicy } from '../contract';
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
  IsSha256Hex,
} from '../validators';

/** Work for the workers of the payload's host: they read its disk, so they compete on its own queue. */
const hostWorkerJob = <N extends string, P extends { host: string }>(name: N, schema: new () => P, onFailure: FailurePolicy<P>, version = 1) =>
  defineContract({
    name,
    version,
    kind: 'job',
    consumer: 'snapshot-worker',
    schema,
    routingKey: (p: P) => routes.hostWorker(p.host, name, version),
    onFailure,
  });

/** Work any worker can do (it needs no local data): every worker competes. */
const anyWorkerJob = <N extends string, P extends object>(name: N, schema: new () => P, onFailure: FailurePolicy<P>, version = 1) =>
  defineContract({ name, version, kind: 'job', consumer: 'snapshot-worker', schema, routingKey: () => routes.anyWorker(name, version), onFailure });

/** A read a caller waits for (any worker): its own queue and prefetch, never behind uploads and copies. */
const readJob = <N extends string, P extends object>(name: N, schema: new () => P, onFailure: FailurePolicy<P>, version = 1) =>
  defineContract({ name, version, kind: 'job', consumer: 'snapshot-worker', schema, routingKey: () => routes.read(name, version), onFailure });

/** Upper bound on blocks per upload part: parts are what several workers share. */
export const MAX_PART_BLOCKS = 1024;

/** Read, hash and upload some changed blocks of a snapshot from the host's image (a host's workers compete). */
export class SnapshotUploadPartJob {
  @IsHostName() host!: string;
  @IsResourceId() snapshotId!: string;
  @IsResourceId() volumeId!: string;
  /** Whose keys name and seal the blocks. */
  @IsString() projectId!: string;
  @IsRegionName() region!: string;
  @IsAbsolutePath() path!: string;
  @IsPointInTime() pointInTime!: string;
  @IsBlockSize() blockSize!: number;
  @IsByteCount() sizeBytes!: number;
  @IsCount() partIndex!: number;
  @IsBlockIndexList() @ArrayMinSize(1) @ArrayMaxSize(MAX_PART_BLOCKS) blocks!: number[];
}
export const SnapshotUploadPart = hostWorkerJob('snapshot.upload-part', SnapshotUploadPartJob, endsSnapshot());

/**
 * Write a snapshot's content into a new image on the host: for an attach (at `path`) or a revert
 * (beside it, at `targetPath`), then take the point in time that equals it.
 */
export class VolumeRestoreJob {
  @IsHostName() host!: string;
  @IsResourceId() volumeId!: string;
  @IsResourceId() operationId!: string;
  @IsString() @IsIn(['attach', 'revert']) purpose!: 'attach' | 'revert';
  /** Whose keys open the snapshot's manifest and blocks. */
  @IsString() projectId!: string;
  @IsRegionName() region!: string;
  @IsString() manifestObject!: string;
  /** The manifest was written sealed: a plain one under its name is a replacement, refused. */
  @IsBoolean() manifestSealed!: boolean;
  @IsAbsolutePath() targetPath!: string;
  @IsByteCount() sizeBytes!: number;
  @IsPointInTime() pointInTime!: string;
}
export const VolumeRestore = hostWorkerJob('volume.restore', VolumeRestoreJob, endsVolumeOperation());

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
export const SnapshotWriteManifest = anyWorkerJob('snapshot.write-manifest', SnapshotWriteManifestJob, {
  ends: 'snapshot-manifest',
  resourceId: (p) => p.snapshotId,
});

/**
 * Copy a snapshot into another region: the blocks the target region lacks (by name) and then, after the
 * commit, the manifest. Any worker (it needs no local data); a redelivered job resumes, skipping what arrived.
 */
export class SnapshotCopyJob {
  /** The copy: a snapshot of the replica volume in `region`, `uploading` while blocks move. */
  @IsResourceId() snapshotId!: string;
  /** Whose keys open the source manifest (blocks move sealed, as they are). */
  @IsString() projectId!: string;
  @IsRegionName() region!: string;
  /** The snapshot read from (an original or another copy) and where its blocks and manifest are. */
  @IsResourceId() sourceSnapshotId!: string;
  @IsRegionName() sourceRegion!: string;
  @IsString() sourceManifest!: string;
  @IsBoolean() sourceManifestSealed!: boolean;
  @IsBlockSize() blockSize!: number;
  @IsByteCount() sizeBytes!: number;
}
export const SnapshotCopy = anyWorkerJob('snapshot.copy', SnapshotCopyJob, endsSnapshot());

/**
 * Read one block of a snapshot and answer with its bytes (the API's `GET /v1/snapshots/{id}/blocks/{index}`, which
 * holds no keys). A request, not a job: sent directly, not through the outbox (it changes nothing), with a reply
 * queue and an expiry; the worker answers on the reply queue (success or the reason), never retries, and a failure
 * ends nothing.
 */
export class BlockReadJob {
  /** Whose keys open the block. */
  @IsString() projectId!: string;
  @IsRegionName() region!: string;
  /** The block's name (its object is `blocks/<name>`), from the catalog's versions. */
  @IsSha256Hex() name!: string;
  /** Bytes to answer: the block size, less at the end of the volume. */
  @IsBlockSize() blockSize!: number;
  @IsByteCount() length!: number;
}
export const BlockRead = readJob('block.read', BlockReadJob, { ends: null, resourceId: (p) => p.name });

/** Headers of a block read's answer: the body's SHA-256 (checked by the API before it passes the bytes on), or why it failed. */
export const BLOCK_READ_REPLY = { sha256: 'x-island-sha256', error: 'x-island-error' } as const;

/**
 * Put a lost block (missing or corrupt in `region`'s Swift, with no whole copy in another region) back from a volume
 * on this host whose point in time still holds it at `blockIndex` (the GC worker's scrub asks; a request with a reply,
 * like block.read). The worker reads the block from the point in time, names it under the project's key and writes
 * it only when that name is `name`: a point in time released or replaced meanwhile is refused, never stored.
 */
export class BlockRecoverJob {
  @IsHostName() host!: string;
  @IsString() projectId!: string;
  /** Where the block is lost (the volume itself may be in another region: names are the project's, not a region's). */
  @IsRegionName() region!: string;
  @IsSha256Hex() name!: string;
  @IsResourceId() volumeId!: string;
  @IsAbsolutePath() path!: string;
  @IsPointInTime() pointInTime!: string;
  @IsCount() blockIndex!: number;
  @IsBlockSize() blockSize!: number;
}
export const BlockRecover = hostWorkerJob('block.recover', BlockRecoverJob, { ends: null, resourceId: (p) => p.name });

/** Headers of a recovery's answer: the size of the object now stored, or why the block was not recovered. */
export const BLOCK_RECOVER_REPLY = { storedSize: 'x-island-stored-size', error: 'x-island-error' } as const;
