import { Catalog, LEDGER_STATUSES, SnapshotEntity, SnapshotStatus } from '@island/catalog';
import { IslandConfig } from '@island/config';
import { MetricsService } from '@island/platform';
import { ConflictError } from '../errors/domain-errors';

/** Snapshots that may be deleted: their content is complete (or abandoned); nothing is writing them. */
const DELETABLE_STATUSES: SnapshotStatus[] = ['available', 'error'];

/** How a delete goes: into the recycle bin when the project keeps deleted snapshots, or at once (`purge`). */
export interface SnapshotDeletion {
  /** Drop the references now, whatever the retention (a transient snapshot, the admin's purge, a deleted volume's). */
  purge?: boolean;
}

/** Seconds the project's deleted snapshots stay restorable: its own setting, else the configured default (0: no bin). */
export async function snapshotRetentionSeconds(catalog: Catalog, config: IslandConfig, projectId: string): Promise<number> {
  return (await catalog.projects.snapshotRetention(projectId)) ?? config.recycleBin.retentionSeconds;
}

/**
 * Deletes one snapshot in the catalog; the caller holds the locks on its volume and on it. With a retention, an
 * available original goes to the recycle bin and keeps its versions (and manifest) until the purge; a failed
 * snapshot (nothing to restore) and a copy in another region (a new copy may be made again) go at once.
 */
export async function deleteSnapshotInCatalog(
  catalog: Catalog,
  config: IslandConfig,
  snapshot: SnapshotEntity,
  metrics: MetricsService,
  o: SnapshotDeletion = {},
): Promise<'recycled' | 'deleted'> {
  if (!DELETABLE_STATUSES.includes(snapshot.status)) {
    throw new ConflictError(`snapshot ${snapshot.id} is ${snapshot.status}; it can be deleted once it is available or has failed`);
  }
  const reverting = await catalog.jobs.revertingFrom(snapshot.id);
  if (reverting) throw new ConflictError(`snapshot ${snapshot.id} is being restored into volume ${reverting}; delete it when the revert ends`);
  const copy = await catalog.snapshots.copyInProgressFrom(snapshot.id);
  if (copy) throw new ConflictError(`snapshot ${snapshot.id} is being copied to region ${copy.region} (copy ${copy.id}); delete it when the copy ends`);
  const retention = o.purge || snapshot.status !== 'available' || snapshot.copyOf ? 0 : await snapshotRetentionSeconds(catalog, config, snapshot.projectId);
  if (retention > 0) {
    await catalog.snapshots.markRecycled(snapshot.id, retention);
    metrics.counter('island_snapshots_recycled_total', 'Snapshots deleted into the recycle bin (restorable until purged)').inc();
    return 'recycled';
  }
  await purgeSnapshotInCatalog(catalog, snapshot, metrics);
  return 'deleted';
}

/**
 * Drops a snapshot's references — a delete without the bin, or a recycled snapshot's purge — exactly as a delete
 * always has: the versions only it could see go in this transaction; GC frees their blocks, then its manifest.
 */
export async function purgeSnapshotInCatalog(catalog: Catalog, snapshot: SnapshotEntity, metrics: MetricsService): Promise<void> {
  if (LEDGER_STATUSES.includes(snapshot.status)) await catalog.ledger.removeSnapshot(snapshot);
  await catalog.snapshots.markDeleted(snapshot.id);
  metrics.counter('island_snapshots_deleted_total', 'Snapshots deleted (their references dropped; GC frees the space)').inc();
}
