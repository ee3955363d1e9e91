import { EntityManager } from 'typeorm';
import { sqlRows } from '../ledger/sql-rows';

/** A volume as its first manifest in Swift describes it. */
export interface RebuiltVolume {
  id: string;
  projectId: string;
  name: string;
  region: string;
  sizeBytes: number;
  blockSize: number;
  /** A copy's volume in another region: the user volume it replicates. */
  replicaOf: string | null;
  /** The sequence number its next snapshot takes: one past its newest manifest's. */
  nextSeq: number;
  createdAt: string;
}

/** A snapshot as its manifest in Swift describes it. */
export interface RebuiltSnapshot {
  id: string;
  volumeId: string;
  projectId: string;
  region: string;
  seq: number;
  name: string;
  sizeBytes: number;
  blockSize: number;
  manifestObject: string;
  manifestSealed: boolean;
  createdAt: string;
  copyOf: string | null;
  /** Blocks its manifest names that Swift does not have: with any, the snapshot is kept in error, without its manifest. */
  missingBlocks: number;
}

/** The catalog rows a rebuild from Swift writes back. */
export class CatalogRebuildRepository {
  constructor(private readonly m: EntityManager) {}

  async ensureRegion(name: string, container: string): Promise<void> {
    await this.m.query(`INSERT INTO region (name, container) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`, [name, container]);
  }

  async volumeExists(id: string): Promise<boolean> {
    const [existing] = await sqlRows(this.m, `SELECT 1 FROM volume WHERE id = $1`, [id]);
    return existing !== undefined;
  }

  /** The volume (and its project, if new), on no host, with no head yet: its snapshots' commits move the head. */
  async restoreVolume(v: RebuiltVolume): Promise<void> {
    await this.m.query(`INSERT INTO project (id) VALUES ($1) ON CONFLICT DO NOTHING`, [v.projectId]);
    await this.m.query(
      `INSERT INTO volume (id, project_id, name, region, size_bytes, block_size, status, next_seq, head_seq, created_at, replica_of)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, $10)`,
      [v.id, v.projectId, v.name, v.region, v.sizeBytes, v.blockSize, v.replicaOf ? 'replica' : 'available', v.nextSeq, v.createdAt, v.replicaOf],
    );
  }

  /** The snapshot, committed when it was created. */
  async restoreSnapshot(s: RebuiltSnapshot): Promise<void> {
    const incomplete = s.missingBlocks > 0;
    await this.m.query(
      `INSERT INTO snapshot (id, volume_id, project_id, region, seq, name, status, status_reason, size_bytes, block_size,
                             manifest_object, manifest_sealed, created_at, committed_at, copy_of)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $14)`,
      [
        s.id,
        s.volumeId,
        s.projectId,
        s.region,
        s.seq,
        s.name,
        incomplete ? 'error' : 'available',
        incomplete ? `rebuilt from Swift: ${s.missingBlocks} block(s) its manifest names are missing` : null,
        s.sizeBytes,
        s.blockSize,
        incomplete ? null : s.manifestObject,
        s.manifestSealed,
        s.createdAt,
        s.copyOf,
      ],
    );
  }

  /** The recycle-bin marker found in Swift for a snapshot: GC keeps it from here on (ledger/recycle-markers.ts). */
  async recordRecycleMarker(snapshotId: string, marker: string): Promise<void> {
    await this.m.query(`UPDATE snapshot SET recycle_marker = $2 WHERE id = $1`, [snapshotId, marker]);
  }

  /** A committed snapshot that was in the recycle bin: back in it (its versions kept, as the bin keeps them) until `purgeAfter`. */
  async putInRecycleBin(snapshotId: string, purgeAfter: Date): Promise<void> {
    await this.m.query(
      `UPDATE snapshot SET status = 'recycled', deleted_at = now(), purge_after = $2, updated_at = now() WHERE id = $1 AND status = 'available'`,
      [snapshotId, purgeAfter],
    );
  }
}
