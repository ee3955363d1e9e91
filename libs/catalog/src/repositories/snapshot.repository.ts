import { EntityManager, In, Not } from 'typeorm';
import { CopyTransferReport, SnapshotEntity, SnapshotStatus } from '../entities/snapshot.entity';
import { preparedRows, sqlRows } from '../ledger/sql-rows';
import { entityByKey, existingEntityByKey, patchByKey } from './entity-by-key';
import { keysetPage, Page, PageRequest } from './keyset-page';

/** Snapshots no request sees as such: deleted, or in the recycle bin (only its own routes see those). */
export const GONE_STATUSES: readonly SnapshotStatus[] = ['deleted', 'recycled'];

/** Snapshots of a volume that are not finished uploading: the volume's image must not change under them. */
export const IN_FLIGHT_STATUSES: readonly SnapshotStatus[] = ['creating', 'pending', 'uploading', 'committing'];

export interface SnapshotLookup {
  /** The caller's project; undefined: every project (the admin). */
  scope?: string;
  lock?: boolean;
  /** Snapshots in the recycle bin count as visible too (the admin's purge). */
  recycled?: boolean;
}

/** What one uploaded part adds to its snapshot's counters. */
export interface UploadedPartCounters {
  blocks: number;
  bytesUploaded: number;
  bytesStored: number;
  blocksUploaded: number;
  blocksReused: number;
}

/** The snapshot aggregate's row: its state, its lineage (volume, group, copies) and its transfer counters. */
type SnapshotDefaults = 'createdAt' | 'updatedAt' | 'purgeAfter' | 'recycleMarker' | 'damagedReason' | 'damagedAt';

/** Whether a caller looking up a snapshot sees it: of its project (unless the admin), neither deleted nor, unless asked for, recycled. */
export function isVisibleSnapshot(snapshot: Pick<SnapshotEntity, 'projectId' | 'status'>, o: Omit<SnapshotLookup, 'lock'> = {}): boolean {
  if (o.scope !== undefined && snapshot.projectId !== o.scope) return false;
  return snapshot.status !== 'deleted' && (snapshot.status !== 'recycled' || o.recycled === true);
}

export class SnapshotRepository {
  constructor(private readonly m: EntityManager) {}

  /** A snapshot the caller may see (neither deleted nor, unless asked for, in the recycle bin), or null. */
  async visible(id: string, o: SnapshotLookup = {}): Promise<SnapshotEntity | null> {
    const snapshot = await this.inScope(id, o);
    return snapshot && isVisibleSnapshot(snapshot, o) ? snapshot : null;
  }

  /** A snapshot of the caller's project in the recycle bin, or null. */
  async recycled(id: string, o: SnapshotLookup = {}): Promise<SnapshotEntity | null> {
    const snapshot = await this.inScope(id, o);
    return snapshot?.status === 'recycled' ? snapshot : null;
  }

  private async inScope(id: string, o: SnapshotLookup): Promise<SnapshotEntity | null> {
    const snapshot = await entityByKey(this.m, SnapshotEntity, id, o.lock ? 'FOR UPDATE' : undefined);
    if (!snapshot || (o.scope !== undefined && snapshot.projectId !== o.scope)) return null;
    return snapshot;
  }

  find(id: string): Promise<SnapshotEntity | null> {
    return entityByKey(this.m, SnapshotEntity, id);
  }

  get(id: string): Promise<SnapshotEntity> {
    return existingEntityByKey(this.m, SnapshotEntity, id);
  }

  /**
   * Locks a snapshot's volume, then the snapshot: every catalog writer takes volume → snapshot → blocks.
   * `for_no_key_update` serializes with every other writer of the snapshot but not with workers claiming
   * blocks for it (see claimBlocks); whoever then ends its upload must call `lockUploadEnd` first.
   */
  async lockWithVolume(id: string, mode: 'pessimistic_write' | 'for_no_key_update' = 'pessimistic_write'): Promise<SnapshotEntity | null> {
    // a snapshot's volume never changes: it is read and its row locked in one round trip
    const locked = await preparedRows(
      this.m,
      'island_lock_snapshot_volume_v1',
      `SELECT 1 FROM volume WHERE id = (SELECT volume_id FROM snapshot WHERE id = $1) FOR UPDATE`,
      [id],
    );
    if (locked.length === 0) return null;
    return entityByKey(this.m, SnapshotEntity, id, mode === 'pessimistic_write' ? 'FOR UPDATE' : 'FOR NO KEY UPDATE');
  }

  /**
   * The lock that ends a snapshot's upload (commit, failure): waits for block claims in flight to commit and
   * keeps new ones out until this transaction ends, after which they find the snapshot no longer uploading.
   */
  async lockUploadEnd(id: string): Promise<void> {
    await this.m.query(`SELECT 1 FROM snapshot WHERE id = $1 FOR UPDATE`, [id]);
  }

  /**
   * A page of the snapshots people see (deleted and recycled ones aside), oldest first; with a scope, of that
   * project; with a volume, of it. `recycled`: the recycle bin's instead, the soonest purged first. Null when the
   * marker is not a snapshot of the scope (a deleted one still marks its place, but in the bin's order only one
   * still in the bin does).
   */
  page(scope: string | undefined, o: { volumeId?: string; recycled?: boolean }, page: PageRequest): Promise<Page<SnapshotEntity> | null> {
    const query = this.m.getRepository(SnapshotEntity).createQueryBuilder('s');
    if (o.recycled) query.where(`s.status = 'recycled'`);
    else query.where('s.deleted_at IS NULL').andWhere('s.status NOT IN (:...gone)', { gone: GONE_STATUSES });
    if (scope !== undefined) query.andWhere('s.project_id = :scope', { scope });
    if (o.volumeId) query.andWhere('s.volume_id = :volumeId', { volumeId: o.volumeId });
    const columns = o.recycled ? ['purge_after', 'id'] : ['created_at', 'seq', 'id'];
    return keysetPage(this.m, query, { columns, scope }, page);
  }

  /**
   * A volume's snapshots that still count (neither deleted nor recycled), in sequence order; `recycled`: the bin's
   * instead; `lock`: locked for update (a cascade delete's list).
   */
  ofVolume(volumeId: string, o: { recycled?: boolean; lock?: boolean } = {}): Promise<SnapshotEntity[]> {
    return this.m.getRepository(SnapshotEntity).find({
      where: { volumeId, status: o.recycled ? 'recycled' : Not(In([...GONE_STATUSES])) },
      order: { seq: 'ASC' },
      ...(o.lock && { lock: { mode: 'pessimistic_write' as const } }),
    });
  }

  /** A new snapshot (never damaged: only a scrub marks one). */
  add(snapshot: Omit<SnapshotEntity, SnapshotDefaults> & Partial<Pick<SnapshotEntity, SnapshotDefaults>>): Promise<SnapshotEntity> {
    const repo = this.m.getRepository(SnapshotEntity);
    return repo.save(repo.create({ damagedReason: null, damagedAt: null, ...snapshot }));
  }

  async setStatus(id: string, status: SnapshotStatus): Promise<void> {
    await this.patch(id, { status });
  }

  async markFailed(id: string, reason: string): Promise<void> {
    await this.patch(id, { status: 'error', statusReason: reason });
  }

  /** Why a snapshot is held where it is (e.g. a sealing one whose manifest write failed and is asked for again). */
  async noteReason(id: string, reason: string): Promise<void> {
    await this.patch(id, { statusReason: reason });
  }

  /** Its manifest is in Swift (sealed or, from a worker before encryption, plain): the snapshot is complete. */
  async markAvailable(id: string, manifestObject: string, manifestSealed: boolean): Promise<void> {
    await this.patch(id, { status: 'available', statusReason: null, manifestObject, manifestSealed, committedAt: new Date() });
  }

  async markDeleted(id: string): Promise<void> {
    await this.patch(id, { status: 'deleted', deletedAt: new Date(), purgeAfter: null });
  }

  /** Into the recycle bin: deleted for everyone but `snapshot list --deleted` and `undelete` until the purge after `retentionSeconds`. */
  async markRecycled(id: string, retentionSeconds: number): Promise<void> {
    await this.m.query(
      `UPDATE snapshot SET status = 'recycled', deleted_at = now(), purge_after = now() + make_interval(secs => $2), updated_at = now() WHERE id = $1`,
      [id, retentionSeconds],
    );
  }

  /** Out of the recycle bin: available again, with the versions and manifest it kept. */
  async markUndeleted(id: string): Promise<void> {
    await this.patch(id, { status: 'available', deletedAt: null, purgeAfter: null });
  }

  /**
   * Recycled snapshots whose retention ended by the catalog's clock (at most `limit`, the longest overdue first): the
   * purge's work; with `id`, that one if it is due.
   */
  async duePurge(limit: number, id?: string): Promise<string[]> {
    const rows = await sqlRows<{ id: string }>(
      this.m,
      `SELECT id FROM snapshot WHERE status = 'recycled' AND purge_after <= now() AND ($2::uuid IS NULL OR id = $2) ORDER BY purge_after LIMIT $1`,
      [limit, id ?? null],
    );
    return rows.map((r) => r.id);
  }

  /** Snapshots of the volume not finished uploading (see IN_FLIGHT_STATUSES). */
  countInFlight(volumeId: string): Promise<number> {
    return this.countOfVolume(volumeId, IN_FLIGHT_STATUSES);
  }

  /** Snapshots of the volume uploading or committing now (at most one: uploads of a volume commit in order). */
  countUploading(volumeId: string): Promise<number> {
    return this.countOfVolume(volumeId, ['uploading', 'committing']);
  }

  /** A volume's snapshots in some statuses, counted by a prepared statement: asked on every take, commit and upload start. */
  private async countOfVolume(volumeId: string, statuses: readonly SnapshotStatus[]): Promise<number> {
    const text = `SELECT count(*)::int AS n FROM snapshot WHERE volume_id = $1 AND status = ANY($2::text[])`;
    const [row] = await preparedRows<{ n: number }>(this.m, 'island_snapshots_of_volume_in_v1', text, [volumeId, statuses]);
    return row.n;
  }

  /** The volume's oldest snapshot waiting for its upload, locked. */
  nextPending(volumeId: string): Promise<SnapshotEntity | null> {
    return this.m.getRepository(SnapshotEntity).findOne({ where: { volumeId, status: 'pending' }, order: { seq: 'ASC' }, lock: { mode: 'pessimistic_write' } });
  }

  /** The ids of the snapshots taken together with this one (itself alone when it is not in a group). */
  async groupOf(id: string): Promise<string[]> {
    const named = await this.find(id);
    if (!named?.groupId) return [id];
    return (await this.m.getRepository(SnapshotEntity).find({ where: { groupId: named.groupId }, order: { id: 'ASC' } })).map((s) => s.id);
  }

  /** The agent's diff: how many blocks will upload and how many guest bytes changed. */
  async recordDiff(id: string, blocksTotal: number, bytesChanged: number): Promise<void> {
    await this.patch(id, { blocksTotal, bytesChanged });
  }

  /** Adds an uploaded part's counters; returns the progress after it. */
  async addUploadedPart(id: string, c: UploadedPartCounters): Promise<{ blocksDone: number; blocksTotal: number }> {
    const [row] = await preparedRows<{ blocks_done: number; blocks_total: number }>(
      this.m,
      'island_add_uploaded_part_v1',
      `UPDATE snapshot SET blocks_done = blocks_done + $2, bytes_uploaded = bytes_uploaded + $3, bytes_stored = bytes_stored + $4,
              blocks_uploaded = blocks_uploaded + $5, blocks_reused = blocks_reused + $6, updated_at = now()
        WHERE id = $1 RETURNING blocks_done, blocks_total`,
      [id, c.blocks, c.bytesUploaded, c.bytesStored, c.blocksUploaded, c.blocksReused],
    );
    return { blocksDone: row.blocks_done, blocksTotal: row.blocks_total };
  }

  /** Adds a copy batch's counters (every copied byte is stored as read: copies move objects unchanged). */
  async addCopiedBatch(id: string, c: { blocksTotal: number; blocks: number; blocksCopied: number; bytesCopied: number }): Promise<void> {
    await this.m.query(
      `UPDATE snapshot SET blocks_total = $2, blocks_done = LEAST($2, blocks_done + $3), blocks_uploaded = blocks_uploaded + $4,
              bytes_uploaded = bytes_uploaded + $5, bytes_stored = bytes_stored + $5, updated_at = now()
        WHERE id = $1`,
      [id, c.blocksTotal, c.blocks, c.blocksCopied, c.bytesCopied],
    );
  }

  /** Keeps a copy's transfer report until its batches are all counted. */
  async keepCopyTransfer(id: string, report: CopyTransferReport): Promise<void> {
    await this.m.query(`UPDATE snapshot SET copy_transfer = $2, updated_at = now() WHERE id = $1`, [id, JSON.stringify(report)]);
  }

  /** Every distinct block of a copy is in its region: the totals are final, what was not copied was there already. */
  async completeCopyCounters(id: string, distinctBlocks: number): Promise<void> {
    await this.m.query(
      `UPDATE snapshot SET blocks_total = $2, blocks_done = $2, blocks_reused = GREATEST(0, $2 - blocks_uploaded), updated_at = now() WHERE id = $1`,
      [id, distinctBlocks],
    );
  }

  /** A copy of this snapshot into another region still being made, if any. */
  async copyInProgressFrom(id: string): Promise<{ id: string; region: string } | null> {
    const [copy] = await sqlRows<{ id: string; region: string }>(
      this.m,
      `SELECT id, region FROM snapshot WHERE copied_from = $1 AND status IN ('uploading', 'committing', 'sealing') LIMIT 1`,
      [id],
    );
    return copy ?? null;
  }

  private async patch(id: string, fields: Partial<SnapshotEntity>): Promise<void> {
    await patchByKey(this.m, SnapshotEntity, id, { ...fields, updatedAt: new Date() });
  }
}
