import { EntityManager } from 'typeorm';
import { LEDGER_STATUSES, removeSnapshotVersions, SnapshotEntity, SnapshotStatus, sqlRows } from '@island/catalog';
import { MetricsService } from '@island/platform';
import { ConflictError } from '../errors/domain-errors';

/** Snapshots that may be deleted: their content is complete (or abandoned); nothing is writing them. */
const DELETABLE_STATUSES: SnapshotStatus[] = ['available', 'error'];

/** Removes one snapshot from the catalog; the caller holds the locks on its volume and on it. */
export async function deleteSnapshotInCatalog(m: EntityManager, snapshot: SnapshotEntity, metrics: MetricsService): Promise<void> {
  if (!DELETABLE_STATUSES.includes(snapshot.status)) {
    throw new ConflictError(`snapshot ${snapshot.id} is ${snapshot.status}; it can be deleted once it is available or has failed`);
  }
  const [revert] = await sqlRows<{ resource_id: string }>(
    m,
    `SELECT resource_id FROM job WHERE kind = 'revert' AND status = 'running' AND params->>'snapshotId' = $1 LIMIT 1`,
    [snapshot.id],
  );
  if (revert) throw new ConflictError(`snapshot ${snapshot.id} is being restored into volume ${revert.resource_id}; delete it when the revert ends`);
  const [copy] = await sqlRows<{ id: string; region: string }>(
    m,
    `SELECT id, region FROM snapshot WHERE copied_from = $1 AND status IN ('uploading', 'committing', 'sealing') LIMIT 1`,
    [snapshot.id],
  );
  if (copy) throw new ConflictError(`snapshot ${snapshot.id} is being copied to region ${copy.region} (copy ${copy.id}); delete it when the copy ends`);
  if (LEDGER_STATUSES.includes(snapshot.status)) await removeSnapshotVersions(m, snapshot);
  await m.update(SnapshotEntity, { id: snapshot.id }, { status: 'deleted', deletedAt: new Date(), updatedAt: new Date() });
  metrics.counter('island_snapshots_deleted_total', 'Snapshots deleted (their references dropped; GC frees the space)').inc();
}
