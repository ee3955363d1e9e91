import { Catalog, SnapshotEntity, VolumeEntity } from '@island/catalog';
import { Caller } from '../auth/caller';
import { ConflictError, NotFoundError } from '../errors/domain-errors';

/** A volume the caller may see, locked for update when inside a state change; any other is not found. */
export async function findVolume(catalog: Catalog, caller: Caller | undefined, id: string, lock = false): Promise<VolumeEntity> {
  const volume = await catalog.volumes.visible(id, { scope: caller?.scope, lock });
  if (!volume) throw new NotFoundError('volume', id);
  return volume;
}

export async function findSnapshot(catalog: Catalog, caller: Caller | undefined, id: string, lock = false): Promise<SnapshotEntity> {
  const snapshot = await catalog.snapshots.visible(id, { scope: caller?.scope, lock });
  if (!snapshot) throw new NotFoundError('snapshot', id);
  return snapshot;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Ids arrive from URLs: anything that is not a UUID is simply not found (and never reaches SQL). */
export function assertUuid(resource: 'volume' | 'snapshot' | 'operation', id: string): void {
  if (!isUuid(id)) throw new NotFoundError(resource, id);
}

export function isUuid(id: string): boolean {
  return UUID.test(id);
}

/** A project whose key was shredded has nothing readable and takes no new snapshot: refused up front, saying why. */
export async function assertKeyNotShredded(catalog: Catalog, projectId: string): Promise<void> {
  const key = await catalog.projectKeys.find(projectId);
  if (key?.shreddedAt) throw keyShreddedError(projectId, key.shreddedAt);
}

export function keyShreddedError(projectId: string, shreddedAt: Date): ConflictError {
  return new ConflictError(
    `the key of project ${projectId} was shredded at ${shreddedAt.toISOString()}: its snapshots can no longer be read, and it takes no new ones`,
  );
}
