import { EntityManager } from 'typeorm';
import { stageBlockMapFrom } from '../ledger/snapshot-changes';
import { changedRowCount, sqlRows } from '../ledger/sql-rows';

/** A block object Swift lists: its hash (the object's name) and its size. */
export interface ListedBlock {
  hash: Buffer;
  storedSize: number;
}

/** A recycle-bin marker Swift lists. */
export interface ListedRecycleMarker {
  snapshotId: string;
  /** The marker object's name. */
  name: string;
  purgeAfter: Date;
}

/** A manifest Swift lists: its volume and sequence number come from its name. */
export interface ListedManifest {
  volumeId: string;
  seq: number;
  name: string;
}

/** A volume's manifests, in sequence order. */
export interface ListedVolume {
  volumeId: string;
  manifests: { seq: number; name: string }[];
}

/** What a manifest says about its volume's geometry: its blocks' sizes follow (the last block may be short). */
export interface MapGeometry {
  blockSize: number;
  volumeSize: number;
}

const STORED = 'island_rebuild_stored';
const RECYCLED = 'island_rebuild_recycled';
const MANIFESTS = 'island_rebuild_manifests';
const MAPS = ['island_rebuild_map_a', 'island_rebuild_map_b'] as const;

/**
 * What a catalog rebuild learns from Swift, kept in PostgreSQL rather than in the rebuilding process: the region's
 * block listing, its manifests, its recycle-bin markers, and the block maps of the manifest being rebuilt and of the one before it (a
 * region of 100 M blocks, a volume of 4 M). Temporary tables of one session: `m` must stay on one connection (a query
 * runner's manager) from `create()` to `drop()`, and they vanish with it if the process dies.
 */
export class RebuildScratch {
  private current: string = MAPS[0];
  private previous: string = MAPS[1];

  constructor(private readonly m: EntityManager) {}

  async create(): Promise<void> {
    await this.drop();
    await this.m.query(`CREATE TEMP TABLE ${STORED} (hash bytea NOT NULL, stored_size bigint NOT NULL)`);
    await this.m.query(`CREATE TEMP TABLE ${MANIFESTS} (volume_id text NOT NULL, seq bigint NOT NULL, name text NOT NULL, PRIMARY KEY (volume_id, seq, name))`);
    await this.m.query(`CREATE TEMP TABLE ${RECYCLED} (snapshot_id text PRIMARY KEY, marker text NOT NULL, purge_after timestamptz NOT NULL)`);
    for (const map of MAPS) await this.m.query(`CREATE TEMP TABLE ${map} (block_index bigint PRIMARY KEY, hash bytea NOT NULL)`);
  }

  async drop(): Promise<void> {
    await this.m.query(`DROP TABLE IF EXISTS ${STORED}, ${MANIFESTS}, ${RECYCLED}, ${MAPS.join(', ')}`);
  }

  /** A page of Swift's block listing. */
  async addListedBlocks(blocks: readonly ListedBlock[]): Promise<void> {
    if (blocks.length === 0) return;
    await this.m.query(`INSERT INTO ${STORED} (hash, stored_size) SELECT * FROM unnest($1::bytea[], $2::bigint[])`, [
      blocks.map((b) => b.hash),
      blocks.map((b) => b.storedSize),
    ]);
  }

  /** The listing is complete: indexed once (faster than row by row) and described to the planner. */
  async listingLoaded(): Promise<void> {
    await this.m.query(`CREATE INDEX ON ${STORED} (hash)`);
    await this.m.query(`ANALYZE ${STORED}`);
  }

  /** A page of Swift's listing of manifests. */
  async addListedManifests(manifests: readonly ListedManifest[]): Promise<void> {
    if (manifests.length === 0) return;
    await this.m.query(`INSERT INTO ${MANIFESTS} (volume_id, seq, name) SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[])`, [
      manifests.map((x) => x.volumeId),
      manifests.map((x) => x.seq),
      manifests.map((x) => x.name),
    ]);
  }

  async listedVolumeCount(): Promise<number> {
    const [row] = await sqlRows<{ n: number }>(this.m, `SELECT count(DISTINCT volume_id)::int AS n FROM ${MANIFESTS}`);
    return row.n;
  }

  /** The listed volume after `after` (null: the first) in id order, with its manifests in sequence order. */
  async nextListedVolume(after: string | null): Promise<ListedVolume | undefined> {
    const rows = await sqlRows<{ volume_id: string; seq: string; name: string }>(
      this.m,
      `SELECT volume_id, seq, name FROM ${MANIFESTS}
        WHERE volume_id = (SELECT min(volume_id) FROM ${MANIFESTS} WHERE $1::text IS NULL OR volume_id > $1)
        ORDER BY seq, name`,
      [after],
    );
    return rows.length === 0 ? undefined : { volumeId: rows[0].volume_id, manifests: rows.map((r) => ({ seq: Number(r.seq), name: r.name })) };
  }

  /** Markers found in Swift; of two for one snapshot (GC stopped between writing one and removing the other), the later. */
  async addRecycleMarkers(markers: readonly ListedRecycleMarker[]): Promise<void> {
    const latest = new Map<string, ListedRecycleMarker>();
    for (const marker of markers) {
      const other = latest.get(marker.snapshotId);
      if (!other || marker.purgeAfter > other.purgeAfter) latest.set(marker.snapshotId, marker);
    }
    if (latest.size === 0) return;
    const rows = [...latest.values()];
    await this.m.query(
      `INSERT INTO ${RECYCLED} (snapshot_id, marker, purge_after) SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[])
       ON CONFLICT (snapshot_id) DO UPDATE SET marker = EXCLUDED.marker, purge_after = EXCLUDED.purge_after
       WHERE EXCLUDED.purge_after > ${RECYCLED}.purge_after`,
      [rows.map((r) => r.snapshotId), rows.map((r) => r.name), rows.map((r) => r.purgeAfter)],
    );
  }

  async recycleMarker(snapshotId: string): Promise<ListedRecycleMarker | undefined> {
    const [row] = await sqlRows<{ marker: string; purge_after: Date }>(this.m, `SELECT marker, purge_after FROM ${RECYCLED} WHERE snapshot_id = $1`, [
      snapshotId,
    ]);
    return row && { snapshotId, name: row.marker, purgeAfter: row.purge_after };
  }

  /** A new volume: no block map before its first manifest's. */
  async startVolume(): Promise<void> {
    await this.m.query(`TRUNCATE ${this.previous}`);
  }

  /** The next manifest's block map follows (addToMap), replacing any map not kept with keepMapAsPrevious. */
  async startMap(): Promise<void> {
    await this.m.query(`TRUNCATE ${this.current}`);
  }

  /** Entries of the manifest being read, in any batches. */
  async addToMap(entries: readonly { index: number; hash: Buffer }[]): Promise<void> {
    if (entries.length === 0) return;
    await this.m.query(`INSERT INTO ${this.current} (block_index, hash) SELECT * FROM unnest($1::bigint[], $2::bytea[])`, [
      entries.map((e) => e.index),
      entries.map((e) => e.hash),
    ]);
  }

  /** The map is complete: described to the planner (temporary tables are never analyzed on their own). */
  async mapLoaded(): Promise<void> {
    await this.m.query(`ANALYZE ${this.current}`);
  }

  /** Entries of the map whose block Swift does not list. */
  async missingBlocks(): Promise<number> {
    const [row] = await sqlRows<{ missing: string }>(
      this.m,
      `SELECT count(*) AS missing FROM ${this.current} c WHERE NOT EXISTS (SELECT 1 FROM ${STORED} s WHERE s.hash = c.hash)`,
    );
    return Number(row.missing);
  }

  /**
   * Rows, present, for the map's blocks the catalog does not know yet, in hash order as every writer takes block rows;
   * returns how many it did not know. `projectId`: the project of the manifest naming them (whose key seals them,
   * unless they were stored before encryption).
   */
  async restorePresentBlocks(region: string, projectId: string, geometry: MapGeometry): Promise<number> {
    return changedRowCount(
      this.m,
      `INSERT INTO block (region, hash, size, stored_size, state, zero_since, project_id)
       SELECT $1, n.hash, n.size, s.stored_size, 'present', now(), $2
         FROM (SELECT c.hash, max(LEAST($3::bigint, $4::bigint - c.block_index * $3::bigint)) AS size FROM ${this.current} c GROUP BY c.hash) n
         JOIN LATERAL (SELECT stored_size FROM ${STORED} s WHERE s.hash = n.hash LIMIT 1) s ON true
        ORDER BY n.hash
       ON CONFLICT (region, hash) DO NOTHING`,
      [region, projectId, geometry.blockSize, geometry.volumeSize],
    );
  }

  /**
   * Stages the map for snapshot `snapshotId`'s commit: `'change'`, what differs from the map kept before it (blocks
   * changed, blocks that became holes); `'whole'`, every entry (a copy's versions are its own whole block map).
   */
  async stageMap(snapshotId: string, as: 'change' | 'whole'): Promise<void> {
    const changes =
      as === 'whole'
        ? `SELECT block_index, hash FROM ${this.current}`
        : `SELECT c.block_index, c.hash FROM ${this.current} c LEFT JOIN ${this.previous} p ON p.block_index = c.block_index
            WHERE p.hash IS DISTINCT FROM c.hash
           UNION ALL
           SELECT p.block_index, NULL FROM ${this.previous} p WHERE NOT EXISTS (SELECT 1 FROM ${this.current} c WHERE c.block_index = p.block_index)`;
    await stageBlockMapFrom(this.m, snapshotId, changes);
  }

  /** The map just read becomes the one the next manifest's change is taken against. */
  keepMapAsPrevious(): void {
    [this.current, this.previous] = [this.previous, this.current];
  }
}
