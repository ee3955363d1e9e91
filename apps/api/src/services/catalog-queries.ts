import { EntityManager } from 'typeorm';
import { SnapshotEntity, VolumeEntity } from '@island/catalog';
import { Caller } from '../auth/caller';
import { NotFoundError } from '../errors/domain-errors';

/** Loads a volume the caller may see, locked for update when inside a state change. */
export async function findVolume(m: EntityManager, caller: Caller | undefined, id: string, lock = false): Promise<VolumeEntity> {
  const volume = await m.getRepository(VolumeEntity).findOne({
    where: { id },
    ...(lock && { lock: { mode: 'pessimistic_write' as const } }),
  });
  // a replica (copies of another volume's snapshots in its region) is not a volume anyone uses
  if (!volume || volume.status === 'deleted' || volume.status === 'replica' || (caller?.scope !== undefined && volume.projectId !== caller.scope)) {
    throw new NotFoundError('volume', id);
  }
  return volume;
}

export async function findSnapshot(m: EntityManager, caller: Caller | undefined, id: string, lock = false): Promise<SnapshotEntity> {
  const snapshot = await m.getRepository(SnapshotEntity).findOne({
    where: { id },
    ...(lock && { lock: { mode: 'pessimistic_write' as const } }),
  });
  if (!snapshot || snapshot.status === 'deleted' || (caller?.scope !== undefined && snapshot.projectId !== caller.scope)) {
    throw new NotFoundError('snapshot', id);
  }
  return snapshot;
}

/**
 * Locks a snapshot's volume, then the snapshot: every catalog writer takes volume → snapshot → blocks.
 * `for_no_key_update` serializes with every other writer of the snapshot but not with workers claiming
 * blocks for it (see claimBlocks); whoever then ends its upload must call `endUploadLock` first.
 */
export async function lockSnapshot(
  m: EntityManager,
  id: string,
  mode: 'pessimistic_write' | 'for_no_key_update' = 'pessimistic_write',
): Promise<SnapshotEntity | null> {
  const [row] = (await m.query(`SELECT volume_id FROM snapshot WHERE id = $1`, [id])) as { volume_id: string }[];
  if (!row) return null;
  await m.query(`SELECT 1 FROM volume WHERE id = $1 FOR UPDATE`, [row.volume_id]);
  return m.getRepository(SnapshotEntity).findOne({ where: { id }, lock: { mode } });
}

/**
 * The lock that ends a snapshot's upload (commit, failure): waits for block claims in flight to commit and
 * keeps new ones out until this transaction ends, after which they find the snapshot no longer uploading.
 */
export async function endUploadLock(m: EntityManager, snapshotId: string): Promise<void> {
  await m.query(`SELECT 1 FROM snapshot WHERE id = $1 FOR UPDATE`, [snapshotId]);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Ids arrive from URLs: anything that is not a UUID is simply not found (and never reaches SQL). */
export function assertUuid(resource: 'volume' | 'snapshot', id: string): void {
  if (!UUID.test(id)) throw new NotFoundError(resource, id);
}
