import { EntityManager } from 'typeorm';
import { seedVolumeFromSnapshot, SnapshotEntity, VolumeEntity } from '@island/catalog';

/**
 * Volumes created in a region from another region's snapshot wait (`creating`) for the copy into their
 * region, named by their source_snapshot_id; when the copy is available they take its content, when it
 * fails they fail with its reason.
 */
async function awaitingCopy(m: EntityManager, copyId: string): Promise<VolumeEntity[]> {
  return m.getRepository(VolumeEntity).find({ where: { sourceSnapshotId: copyId, status: 'creating' }, lock: { mode: 'pessimistic_write' } });
}

export async function seedVolumesAwaitingCopy(m: EntityManager, copy: SnapshotEntity): Promise<void> {
  for (const volume of await awaitingCopy(m, copy.id)) {
    await seedVolumeFromSnapshot(m, volume.id, copy);
    await m.update(VolumeEntity, { id: volume.id }, { status: 'available', statusReason: null, updatedAt: new Date() });
  }
}

export async function failVolumesAwaitingCopy(m: EntityManager, copy: SnapshotEntity, reason: string): Promise<void> {
  for (const volume of await awaitingCopy(m, copy.id)) {
    await m.update(
      VolumeEntity,
      { id: volume.id },
      { status: 'error', statusReason: `copy of snapshot ${copy.copyOf} into ${copy.region} failed: ${reason}`, updatedAt: new Date() },
    );
  }
}
