import { Catalog, LEDGER_STATUSES, SnapshotEntity, SnapshotStatus } from '@island/catalog';
import { MetricsService } from '@island/platform';
import { ConflictError } from '../errors/domain-errors';

/** Snapshots that may be deleted: their content is complete (or abandoned); nothing is writing them. */
const DELETABLE_STATUSES: SnapshotStatus[] = ['available', 'error'];

/** Removes one snapshot from the catalog; the caller holds the locks on its volume and on it. */
export async function deleteSnapshotInCatalog(catalog: Catalog, snapshot: SnapshotEntity, metrics: MetricsService): Promise<void> {
  if (!DELETABLE_STATUSES.includes(snapshot.status)) {
    throw new ConflictError(`snapshot ${snapshot.id} is ${snapshot.status}; it can be deleted once it is available or has failed`);
  }
  const reverting = await catalog.jobs.revertingFrom(snapshot.id);
  if (reverting) throw new ConflictError(`snapshot ${snapshot.id} is being restored into volume ${reverting}; delete it when the revert ends`);
  const copy = await catalog.snapshots.copyInProgressFrom(snapshot.id);
  if (copy) throw new ConflictError(`snapshot ${snapshot.id} is being copied to region ${copy.region} (copy ${copy.id}); delete it when the copy ends`);
  if (LEDGER_STATUSES.includes(snapshot.status)) await catalog.ledger.removeSnapshot(snapshot);
  await catalog.snapshots.markDeleted(snapshot.id);
  metrics.counter('island_snapshots_deleted_total', 'Snapshots deleted (their references dropped; GC frees the space)').inc();
}
