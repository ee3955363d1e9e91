import { EntityManager, Not } from 'typeorm';
import { SnapshotEntity } from '../entities/snapshot.entity';
import { VolumeEntity } from '../entities/volume.entity';
import { sqlRows } from '../ledger/sql-rows';

/** Where a snapshot's content is, per region: the original and its copies. */
export interface SnapshotPlacement {
  region: string;
  snapshotId: string;
  status: SnapshotEntity['status'];
}

/**
 * Region copies: a copy is a snapshot of the source volume's replica (a hidden volume) in the target region;
 * volumes made from a snapshot of another region wait for its copy into theirs.
 */
export class RegionCopyRepository {
  constructor(private readonly m: EntityManager) {}

  /** The live (not deleted, not failed) snapshot with this original's content in a region. */
  async liveSnapshotIn(originalId: string, region: string): Promise<SnapshotEntity | null> {
    const [row] = await sqlRows<{ id: string }>(
      this.m,
      `SELECT id FROM snapshot WHERE coalesce(copy_of, id) = $1 AND region = $2 AND status NOT IN ('deleted', 'error')`,
      [originalId, region],
    );
    return row ? this.m.getRepository(SnapshotEntity).findOneByOrFail({ id: row.id }) : null;
  }

  /** Every region holding this snapshot's content, the original's first. */
  async placements(snapshotId: string): Promise<SnapshotPlacement[]> {
    const rows = await sqlRows<{ id: string; region: string; status: SnapshotEntity['status'] }>(
      this.m,
      `SELECT s.id, s.region, s.status FROM snapshot s, snapshot me
        WHERE me.id = $1 AND coalesce(s.copy_of, s.id) = coalesce(me.copy_of, me.id) AND s.status NOT IN ('deleted', 'error')
        ORDER BY s.copy_of IS NOT NULL, s.region`,
      [snapshotId],
    );
    return rows.map((r) => ({ region: r.region, snapshotId: r.id, status: r.status }));
  }

  /** The live replica of volume `of` in a region, locked, if there is one. */
  replicaIn(of: string, region: string): Promise<VolumeEntity | null> {
    return this.m.getRepository(VolumeEntity).findOne({ where: { replicaOf: of, region, status: Not('deleted') }, lock: { mode: 'pessimistic_write' } });
  }

  /** A replica left without snapshots goes too (it holds no versions then). */
  async retireEmptyReplica(volumeId: string): Promise<void> {
    await this.m.query(
      `UPDATE volume SET status = 'deleted', deleted_at = now(), updated_at = now()
        WHERE id = $1 AND status = 'replica'
          AND NOT EXISTS (SELECT 1 FROM snapshot WHERE volume_id = $1 AND status <> 'deleted')`,
      [volumeId],
    );
  }

  /** Volumes waiting (`creating`) for this copy to become available, locked. */
  volumesAwaiting(copyId: string): Promise<VolumeEntity[]> {
    return this.m.getRepository(VolumeEntity).find({ where: { sourceSnapshotId: copyId, status: 'creating' }, lock: { mode: 'pessimistic_write' } });
  }
}
