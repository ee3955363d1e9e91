import { EntityManager } from 'typeorm';
import { sqlRows } from './sql-rows';

export interface CollectableManifest {
  snapshotId: string;
  object: string;
}

/**
 * Manifests of deleted snapshots that nothing can ask for any more. A volume that is not placed on a host
 * (never attached, or being attached now) restores its content from its head snapshot's manifest, so
 * that manifest stays until the volume is placed or deleted; its blocks stay referenced by the volume's head.
 */
const COLLECTABLE = `
  FROM snapshot s
 WHERE s.region = $1 AND s.status = 'deleted' AND s.manifest_object IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM volume v WHERE v.head_snapshot_id = s.id AND v.status <> 'deleted' AND v.image_path IS NULL)`;

export async function collectableManifests(m: EntityManager, region: string, limit: number): Promise<CollectableManifest[]> {
  const rows = await sqlRows<{ id: string; manifest_object: string }>(m, `SELECT s.id, s.manifest_object ${COLLECTABLE} ORDER BY s.deleted_at LIMIT $2`, [
    region,
    limit,
  ]);
  return rows.map((r) => ({ snapshotId: r.id, object: r.manifest_object }));
}

export async function countCollectableManifests(m: EntityManager, region: string): Promise<number> {
  const [row] = await sqlRows<{ n: string }>(m, `SELECT count(*) AS n ${COLLECTABLE}`, [region]);
  return Number(row.n);
}

/** After the manifest objects are gone from Swift: the deleted snapshots no longer name them. */
export async function forgetManifests(m: EntityManager, snapshotIds: string[]): Promise<void> {
  if (snapshotIds.length === 0) return;
  await m.query(`UPDATE snapshot SET manifest_object = NULL WHERE id = ANY($1::uuid[]) AND status = 'deleted'`, [snapshotIds]);
}
