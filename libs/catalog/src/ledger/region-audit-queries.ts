import { EntityManager } from 'typeorm';
import { LEDGER_STATUSES } from '../entities/snapshot.entity';
import { sqlRows } from './sql-rows';

export interface ManifestedSnapshot {
  id: string;
  volumeId: string;
  seq: number;
  manifestObject: string;
  manifestSealed: boolean;
  projectId: string;
}

export interface PresentBlock {
  hash: Buffer;
  storedSize: number;
  /** The project whose key seals it; null for a block stored before encryption. */
  projectId: string | null;
  /** Marked damaged by a scrub and not found whole since (null: not marked). */
  damagedReason: string | null;
}

export type PresentBlockRow = { hash: Buffer; stored_size: number; project_id: string | null; damaged_reason: string | null };
export const toPresentBlock = (r: PresentBlockRow): PresentBlock => ({
  hash: r.hash,
  storedSize: r.stored_size,
  projectId: r.project_id,
  damagedReason: r.damaged_reason,
});

/** The region's snapshots in the ledger that name a manifest, by volume and sequence number. */
export async function manifestedSnapshots(m: EntityManager, region: string): Promise<ManifestedSnapshot[]> {
  const rows = await sqlRows<{ id: string; volume_id: string; seq: number; manifest_object: string; manifest_sealed: boolean; project_id: string }>(
    m,
    `SELECT id, volume_id, seq, manifest_object, manifest_sealed, project_id FROM snapshot
      WHERE region = $1 AND status = ANY($2) AND manifest_object IS NOT NULL ORDER BY volume_id, seq`,
    [region, LEDGER_STATUSES],
  );
  return rows.map((r) => ({
    id: r.id,
    volumeId: r.volume_id,
    seq: r.seq,
    manifestObject: r.manifest_object,
    manifestSealed: r.manifest_sealed,
    projectId: r.project_id,
  }));
}

/** A block of the region with a catalog row, in any state. */
export interface RegionBlock extends PresentBlock {
  state: 'uploading' | 'present' | 'deleting';
}

/**
 * The region's blocks with a catalog row, any state, in hash order within (after, upTo] — null: unbounded on that side
 * — at most `limit` of them: fsck walks the region a range at a time beside Swift's listing, never holding it whole.
 */
export async function regionBlocksBetween(m: EntityManager, region: string, after: Buffer | null, upTo: Buffer | null, limit: number): Promise<RegionBlock[]> {
  const params: unknown[] = [region, limit];
  // bounds spelled only where given: an index range the planner sees, whatever the plan
  const bound = (op: string, value: Buffer | null) => (value === null ? '' : ` AND hash ${op} $${params.push(value)}`);
  const where = `region = $1${bound('>', after)}${bound('<=', upTo)}`;
  const rows = await sqlRows<PresentBlockRow & { state: RegionBlock['state'] }>(
    m,
    `SELECT hash, state, stored_size, project_id, damaged_reason FROM block WHERE ${where} ORDER BY hash LIMIT $2`,
    params,
  );
  return rows.map((r) => ({ ...toPresentBlock(r), state: r.state }));
}

/** How many of the region's blocks the catalog says Swift holds. */
export async function presentBlockCount(m: EntityManager, region: string): Promise<number> {
  const [row] = await sqlRows<{ count: number }>(m, `SELECT count(*)::int AS count FROM block WHERE region = $1 AND state = 'present'`, [region]);
  return row.count;
}

/** Those of the given snapshots whose manifest must stay: being sealed now, or still named (live, or deleted and kept for GC). */
export async function snapshotsKeepingManifests(m: EntityManager, region: string, snapshotIds: string[]): Promise<string[]> {
  const rows = await sqlRows<{ id: string }>(
    m,
    `SELECT id FROM snapshot WHERE region = $1 AND id = ANY($2::uuid[])
        AND (status = 'sealing' OR manifest_object IS NOT NULL)`,
    [region, snapshotIds],
  );
  return rows.map((r) => r.id);
}
