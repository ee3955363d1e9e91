import { IsBoolean, IsInt, IsNumber, IsOptional, IsString, Matches, Max, Min } from 'class-validator';
import { defineContract, FailurePolicy } from '../contract';
import { routes } from '../topology';
import { IsRegionName, IsResourceId } from '../validators';

/** Work for the GC workers (they compete: any of them can do it). */
const gcJob = <N extends string, P extends { operationId: string }>(name: N, schema: new () => P, version = 1) =>
  defineContract({
    name,
    version,
    kind: 'job',
    consumer: 'gc-worker',
    schema,
    routingKey: () => routes.gc(name, version),
    onFailure: endsRegionOperation<P>(),
  });

/** Each GC job is one operator operation (its operationId). */
const endsRegionOperation = <P extends { operationId: string }>(): FailurePolicy<P> => ({
  ends: 'region-operation',
  resourceId: (p) => p.operationId,
  operationId: (p) => p.operationId,
});

/** Longest grace window an operator may ask for: a week. */
export const MAX_GC_GRACE_SECONDS = 7 * 24 * 3600;

/**
 * Delete from a region's Swift the blocks that have had no reference and no upload claim for longer than
 * the grace window, and the manifests of deleted snapshots nothing needs; or, as a dry run, only count them.
 */
export class GcRunJob {
  @IsResourceId() operationId!: string;
  @IsRegionName() region!: string;
  @IsInt() @Min(0) @Max(MAX_GC_GRACE_SECONDS) graceSeconds!: number;
  @IsBoolean() dryRun!: boolean;
}
export const GcRun = gcJob('gc.run', GcRunJob);

/**
 * Check a region: recompute every block's reference count from the live snapshots and volumes and compare
 * with the catalog; check every referenced block is in Swift with its size (deep: its data and checksum);
 * find orphans (objects nothing references). Repair deletes orphans, corrects reference counts, repairs lost blocks
 * from another region's copy and marks the rest damaged (with the snapshots that need them).
 */
export class FsckJob {
  @IsResourceId() operationId!: string;
  @IsRegionName() region!: string;
  @IsBoolean() deep!: boolean;
  @IsBoolean() repair!: boolean;
  /** MiB per second the deep read may take from Swift (0: unlimited); absent: the worker's ISLAND_SCRUB_MIB_PER_S. */
  @IsOptional() @IsNumber({ allowNaN: false, allowInfinity: false }) @Min(0) @Max(100000) mibPerSecond?: number;
}
export const Fsck = gcJob('gc.fsck', FsckJob);

/** Rebuild a region's volumes, snapshots, block versions and reference counts from its Swift manifests. */
export class CatalogRebuildJob {
  @IsResourceId() operationId!: string;
  @IsRegionName() region!: string;
  /**
   * Also rebuild from plain manifests (written before encryption): they authenticate nothing, so only when the
   * operator knows the store holds such data; otherwise they are counted and left out.
   */
  @IsBoolean() acceptPlain!: boolean;
}
export const CatalogRebuild = gcJob('gc.catalog-rebuild', CatalogRebuildJob);

/**
 * Rotate the key-encryption key: the key manager makes a new current KEK, every project key is re-wrapped by it (in
 * the catalog and in each region's Swift), then the earlier KEKs are retired. No block or manifest changes.
 */
export class KeysRotateJob {
  @IsResourceId() operationId!: string;
}
export const KeysRotate = gcJob('gc.keys-rotate', KeysRotateJob);

/** Destroy a project's key (crypto-shredding): every snapshot of the project becomes unreadable at once. */
export class KeyShredJob {
  @IsResourceId() operationId!: string;
  @IsString() @Matches(/^[A-Za-z0-9_.-]{1,64}$/) projectId!: string;
}
export const KeyShred = gcJob('gc.key-shred', KeyShredJob);
