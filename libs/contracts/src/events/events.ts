import 'reflect-metadata';
import { Type } from 'class-transformer';
import { IsArray, IsBoolean, IsIn, IsObject, IsOptional, IsString, MaxLength, ValidateIf, ValidateNested } from 'class-validator';
import { BlockRun } from '../block-run';
import { defineContract, FAILURE_SCOPES, FailureScope } from '../contract';
import { routes } from '../topology';
import { MAX_PART_BLOCKS } from '../worker/worker-jobs';
import { IsAbsolutePath, IsByteCount, IsCount, IsHostName, IsPartBlockList, IsPointInTime, IsRegionName, IsResourceId } from '../validators';

/** What happened, for the API (its replicas compete). */
const event = <N extends string, P extends object>(name: N, schema: new () => P, version = 1) =>
  defineContract({ name, version, kind: 'event', consumer: 'api', schema, routingKey: () => routes.event(name, version) });

export class ImageCreatedEvent {
  @IsHostName() host!: string;
  @IsResourceId() volumeId!: string;
  @IsAbsolutePath() path!: string;
}
export const ImageCreated = event('image.created', ImageCreatedEvent);

/** What changed between two points in time, in blocks. */
export class ChangedBlocks {
  /** Blocks holding at least one cluster that changed since the base point in time. */
  @IsArray() @ValidateNested({ each: true }) @Type(() => BlockRun) changed!: BlockRun[];
  /** Guest bytes in changed clusters (what a dirty-bitmap tool would have to read). */
  @IsByteCount() bytesChanged!: number;
}

/** The diff a take was asked for, and the base it is against (null: since empty). */
export class TakenDiff extends ChangedBlocks {
  @IsOptional() @IsPointInTime() base!: string | null;
}

export class SnapshotTakenEvent {
  @IsHostName() host!: string;
  @IsResourceId() snapshotId!: string;
  /** Present when the take asked for it and the agent could diff. */
  @IsOptional() @ValidateNested() @Type(() => TakenDiff) diff?: TakenDiff;
}
export const SnapshotTaken = event('snapshot.taken', SnapshotTakenEvent);

export class SnapshotDiffedEvent extends ChangedBlocks {
  @IsHostName() host!: string;
  @IsResourceId() snapshotId!: string;
}
export const SnapshotDiffed = event('snapshot.diffed', SnapshotDiffedEvent);

/** One block of a snapshot part: its index in the volume and its content's name, null for a hole. */
export interface PartBlock {
  index: number;
  hash: string | null;
}

export class SnapshotPartUploadedEvent {
  @IsHostName() host!: string;
  @IsResourceId() snapshotId!: string;
  @IsCount() partIndex!: number;
  /** Each block's hash is null where the block is all zero now (a hole). */
  @IsPartBlockList(MAX_PART_BLOCKS) blocks!: PartBlock[];
  @IsByteCount() bytesRead!: number;
  @IsByteCount() bytesUploaded!: number;
  @IsByteCount() bytesStored!: number;
  @IsCount() blocksUploaded!: number;
  @IsCount() blocksReused!: number;
}
export const SnapshotPartUploaded = event('snapshot.part-uploaded', SnapshotPartUploadedEvent);

export class SnapshotManifestWrittenEvent {
  @IsResourceId() snapshotId!: string;
  @IsString() manifestObject!: string;
  /** Written sealed under its project's key (always, since encryption at rest). */
  @IsBoolean() sealed!: boolean;
  @IsByteCount() bytes!: number;
}
export const SnapshotManifestWritten = event('snapshot.manifest-written', SnapshotManifestWrittenEvent);

/**
 * A batch of a region copy's blocks is in the target region (claimed there and present): the API counts it and updates
 * the job's progress. Batches are consecutive stretches of the source manifest, numbered in its order, so a resumed
 * copy reports the same batches again: the API counts each batch once.
 */
export class SnapshotCopyProgressedEvent {
  @IsResourceId() snapshotId!: string;
  @IsCount() batch!: number;
  /** Manifest entries (non-hole blocks) of the whole copy. */
  @IsCount() blocksTotal!: number;
  /** Manifest entries this batch covers; blocks this attempt sent (the others were there already). */
  @IsCount() blocks!: number;
  @IsCount() blocksCopied!: number;
  @IsByteCount() bytesCopied!: number;
}
export const SnapshotCopyProgressed = event('snapshot.copy-progressed', SnapshotCopyProgressedEvent, 2);

/** Every block of a region copy is in the target region and its block map is staged: the copy can commit. */
export class SnapshotCopyTransferredEvent {
  @IsResourceId() snapshotId!: string;
  /** Non-hole blocks of the copied snapshot (staged rows), and distinct ones among them. */
  @IsCount() entries!: number;
  @IsCount() distinctBlocks!: number;
  /** Batches reported (SnapshotCopyProgressed); the copy commits once each of them is counted. */
  @IsCount() batches!: number;
}
export const SnapshotCopyTransferred = event('snapshot.copy-transferred', SnapshotCopyTransferredEvent, 2);

export class VolumeRestoredEvent {
  @IsHostName() host!: string;
  @IsResourceId() volumeId!: string;
  @IsResourceId() operationId!: string;
  @IsString() @IsIn(['attach', 'revert']) purpose!: 'attach' | 'revert';
  @IsAbsolutePath() targetPath!: string;
  @IsPointInTime() pointInTime!: string;
  @IsByteCount() bytesWritten!: number;
  @IsCount() blocksWritten!: number;
}
export const VolumeRestored = event('volume.restored', VolumeRestoredEvent);

/** Progress of a long host operation (restore), sent at most about once a second. */
export class OperationProgressEvent {
  @IsResourceId() operationId!: string;
  @IsResourceId() resourceId!: string;
  @IsCount() done!: number;
  @IsCount() total!: number;
}
export const OperationProgress = event('operation.progress', OperationProgressEvent);

export class ImageReplacedEvent {
  @IsHostName() host!: string;
  @IsResourceId() volumeId!: string;
  @IsResourceId() operationId!: string;
}
export const ImageReplaced = event('image.replaced', ImageReplacedEvent);

export class ImageGrownEvent {
  @IsHostName() host!: string;
  @IsResourceId() volumeId!: string;
  @IsResourceId() operationId!: string;
  @IsByteCount() sizeBytes!: number;
}
export const ImageGrown = event('image.grown', ImageGrownEvent);

/** Where the host's storage daemon serves a volume's image. */
export class ImageServedEvent {
  @IsHostName() host!: string;
  @IsResourceId() volumeId!: string;
  /** Exported as 'nbd': nbd+unix:///<export>?socket=<path> */
  @ValidateIf((e: ImageServedEvent) => e.raw === undefined) @IsString() @MaxLength(400) nbd?: string;
  /** Exported as 'raw' or 'block': the file showing the volume's raw bytes. */
  @ValidateIf((e: ImageServedEvent) => e.nbd === undefined) @IsAbsolutePath() raw?: string;
  /** Exported as 'block': the loop block device over `raw`. */
  @IsOptional() @IsAbsolutePath() device?: string;
}

export class ImageExportedEvent extends ImageServedEvent {
  @IsResourceId() operationId!: string;
}
export const ImageExported = event('image.exported', ImageExportedEvent);

/**
 * The host serves an attached volume again by itself, no operation asking (after a host reboot, or its storage daemon
 * or nbdfuse died): where it serves it now — the loop device differs when the old one was taken meanwhile.
 */
export const ImageServedAgain = event('image.served-again', ImageServedEvent);

export class ImageUnexportedEvent {
  @IsHostName() host!: string;
  @IsResourceId() volumeId!: string;
  @IsResourceId() operationId!: string;
}
export const ImageUnexported = event('image.unexported', ImageUnexportedEvent);

/** A lazily filled volume's fill: bytes of the image copied (or found written) so far, of its size. */
export class ImageFillProgressedEvent {
  @IsHostName() host!: string;
  @IsResourceId() volumeId!: string;
  @IsByteCount() done!: number;
  @IsByteCount() total!: number;
}
export const ImageFillProgressed = event('image.fill-progressed', ImageFillProgressedEvent);

/** The volume's image holds every block of its snapshot: it no longer depends on Swift. */
export class ImageFilledEvent {
  @IsHostName() host!: string;
  @IsResourceId() volumeId!: string;
}
export const ImageFilled = event('image.filled', ImageFilledEvent);

/** The fill stopped for good (retries spent): blocks not yet copied cannot be read; the reason says which and why. */
export class ImageFillFailedEvent {
  @IsHostName() host!: string;
  @IsResourceId() volumeId!: string;
  @IsString() @MaxLength(2000) reason!: string;
}
export const ImageFillFailed = event('image.fill-failed', ImageFillFailedEvent);

export class ImageDeletedEvent {
  @IsHostName() host!: string;
  @IsResourceId() volumeId!: string;
}
export const ImageDeleted = event('image.deleted', ImageDeletedEvent);

/** A job that cannot succeed (bad image, missing file…): the API fails the operation with this reason. */
/** A job failed for good: the API ends what its contract's failure policy names, with the reason. */
export class OperationFailedEvent {
  /** The contract name of the job that failed. */
  @IsString() @MaxLength(100) job!: string;
  @IsString() @IsIn(FAILURE_SCOPES) ends!: FailureScope;
  @IsResourceId() resourceId!: string;
  @IsOptional() @IsResourceId() operationId?: string;
  @IsString() @MaxLength(2000) reason!: string;
  @IsOptional() @IsHostName() host?: string;
}
export const OperationFailed = event('operation.failed', OperationFailedEvent, 2);

/** A long operation that is not tied to a volume or snapshot (GC, fsck, rebuild) ended; `result` is its report. */
export class OperationFinishedEvent {
  @IsResourceId() operationId!: string;
  @IsObject() result!: Record<string, unknown>;
}
export const OperationFinished = event('operation.finished', OperationFinishedEvent);

/** An agent announces itself and its disk every few seconds; hosts are registered from these. */
export class AgentHeartbeatEvent {
  @IsHostName() host!: string;
  @IsRegionName() region!: string;
  @IsAbsolutePath() dataDir!: string;
  @IsByteCount() capacityBytes!: number;
  @IsByteCount() freeBytes!: number;
  @IsString() @MaxLength(64) version!: string;
}
export const AgentHeartbeat = event('agent.heartbeat', AgentHeartbeatEvent);
