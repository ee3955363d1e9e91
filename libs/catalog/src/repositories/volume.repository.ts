import { EntityManager } from 'typeorm';
import { ExportKind, NOT_PLACED, VolumeEntity, VolumeStatus } from '../entities/volume.entity';
import { sqlRows } from '../ledger/sql-rows';
import { entityByKey, existingEntityByKey, patchByKey } from './entity-by-key';
import { keysetPage, Page, PageRequest } from './keyset-page';

/** Volume rows a caller sees: not deleted, not a hidden replica, and (with a scope) of that project. */
export interface VolumeLookup {
  /** The caller's project; undefined: every project (the admin). */
  scope?: string;
  /** Lock the row for the rest of the transaction (every writer locks volume → snapshot → blocks). */
  lock?: boolean;
}

/** Where an attached volume is served while exported by the host's storage daemon. */
export interface VolumeExport {
  nbdUri: string | null;
  rawPath: string | null;
  blockDevice: string | null;
}

/** The volume aggregate: its row, its placement on a host, its attachment and its sequence numbers. */
export class VolumeRepository {
  constructor(private readonly m: EntityManager) {}

  /** A volume the caller may see, or null. */
  async visible(id: string, o: VolumeLookup = {}): Promise<VolumeEntity | null> {
    const volume = await entityByKey(this.m, VolumeEntity, id, o.lock ? 'FOR UPDATE' : undefined);
    // a replica (copies of another volume's snapshots in its region) is not a volume anyone uses
    if (!volume || volume.status === 'deleted' || volume.status === 'replica' || (o.scope !== undefined && volume.projectId !== o.scope)) return null;
    return volume;
  }

  /** Any volume row (replicas and deleted ones included), locked for a state change. */
  lock(id: string): Promise<VolumeEntity | null> {
    return entityByKey(this.m, VolumeEntity, id, 'FOR UPDATE');
  }

  /** Takes the volume's row lock without loading it: the first step of every snapshot writer. */
  async lockRow(id: string): Promise<void> {
    await this.m.query(`SELECT 1 FROM volume WHERE id = $1 FOR UPDATE`, [id]);
  }

  get(id: string): Promise<VolumeEntity> {
    return existingEntityByKey(this.m, VolumeEntity, id);
  }

  find(id: string): Promise<VolumeEntity | null> {
    return entityByKey(this.m, VolumeEntity, id);
  }

  /**
   * A page of the volumes people use (no replicas), oldest first; with a scope, of that project only. Null when the
   * marker is not a volume of the scope (a deleted one still marks its place).
   */
  page(scope: string | undefined, page: PageRequest): Promise<Page<VolumeEntity> | null> {
    const query = this.m.getRepository(VolumeEntity).createQueryBuilder('v').where('v.deleted_at IS NULL').andWhere(`v.status <> 'replica'`);
    if (scope !== undefined) query.andWhere('v.project_id = :scope', { scope });
    return keysetPage(this.m, query, { columns: ['created_at', 'id'], scope }, page);
  }

  add(volume: Omit<VolumeEntity, 'createdAt' | 'updatedAt'>): Promise<VolumeEntity> {
    const repo = this.m.getRepository(VolumeEntity);
    return repo.save(repo.create(volume));
  }

  /** A new status; the reason is replaced when given (null clears it) and kept otherwise. */
  async setStatus(id: string, status: VolumeStatus, reason?: string | null): Promise<void> {
    await this.patch(id, { status, ...(reason !== undefined && { statusReason: reason }) });
  }

  /** An attach started: the volume is `attaching` on `host`, served the way asked (null: file mode). */
  async startAttach(id: string, host: string, exportKind: ExportKind | null): Promise<void> {
    await this.patch(id, { status: 'attaching', host, exportKind, statusReason: null });
  }

  /** The volume's image exists on its host now (it is not attached until `markAttached`). */
  async recordImage(id: string, imagePath: string, pointInTime: string | null): Promise<void> {
    await this.patch(id, { imagePath, pointInTime });
  }

  /** Its image was made lazily from a snapshot: it fills from it, `total` bytes to go. */
  async startFill(id: string, total: number): Promise<void> {
    await this.patch(id, { fillStatus: 'filling', fillDone: 0, fillTotal: total, fillReason: null });
  }

  /** Fill progress; a report that arrives late (after the fill ended) changes nothing. */
  async recordFillProgress(id: string, done: number, total: number): Promise<void> {
    await this.m.query(
      `UPDATE volume SET fill_done = GREATEST(fill_done, $2), fill_total = $3, fill_status = 'filling', fill_reason = NULL, updated_at = now()
        WHERE id = $1 AND fill_status IS NOT NULL`,
      [id, done, total],
    );
  }

  /** The image is whole: it no longer depends on the snapshot. */
  async finishFill(id: string): Promise<void> {
    await this.m.query(`UPDATE volume SET fill_status = NULL, fill_done = fill_total, fill_reason = NULL, updated_at = now() WHERE id = $1`, [id]);
  }

  async failFill(id: string, reason: string): Promise<void> {
    await this.patch(id, { fillStatus: 'failed', fillReason: reason });
  }

  /** Attached: in use on its host, with where the storage daemon serves it when exported. */
  async markAttached(id: string, at: Partial<VolumeExport> & { imagePath?: string; pointInTime?: string | null } = {}): Promise<void> {
    await this.patch(id, { status: 'in-use', attached: true, statusReason: null, ...at });
  }

  /** Where the storage daemon serves the attached volume now (it served it again by itself, e.g. after a host reboot). */
  async recordConnection(id: string, at: VolumeExport): Promise<void> {
    await this.patch(id, at);
  }

  /** Detached: available again, no longer served by the storage daemon. */
  async markDetached(id: string): Promise<void> {
    await this.patch(id, { status: 'available', attached: false, exportKind: null, nbdUri: null, rawPath: null, blockDevice: null });
  }

  /** An attach that failed: the volume is available again, on `host` when its image was placed there (else unplaced). */
  async abandonAttach(id: string, host: string | null, reason: string): Promise<void> {
    // an image that was never placed has nothing filling either
    const unplaced = host === null ? { fillStatus: null, fillDone: 0, fillTotal: 0, fillReason: null } : {};
    await this.patch(id, { status: 'available', host, exportKind: null, statusReason: reason, ...unplaced });
  }

  /** The volume's host is lost: it is on no host again, its content the head in Swift (placed anew at the next attach). */
  async unplace(id: string, reason: string): Promise<void> {
    await this.patch(id, { status: 'available', ...NOT_PLACED, statusReason: reason });
  }

  async resize(id: string, sizeBytes: number): Promise<void> {
    await this.patch(id, { sizeBytes });
  }

  /** The host grew the image: the new size, and the status the volume had before. */
  async markGrown(id: string, sizeBytes: number, status: 'available' | 'in-use'): Promise<void> {
    await this.patch(id, { sizeBytes, status, statusReason: null });
  }

  /** The revert swapped the image in: available, its head is now the restored image's point in time. */
  async markReverted(id: string, pointInTime: string): Promise<void> {
    await this.patch(id, { status: 'available', pointInTime, statusReason: null });
  }

  /** A snapshot committed: its point in time is the volume's head (the next diff's base). */
  async advancePointInTime(id: string, pointInTime: string): Promise<void> {
    await this.patch(id, { pointInTime });
  }

  async markDeleted(id: string): Promise<void> {
    await this.patch(id, { status: 'deleted', deletedAt: new Date() });
  }

  /** The sequence number of the volume's next snapshot (or revert), taken. */
  async takeSeq(id: string): Promise<number> {
    const [row] = await sqlRows<{ seq: number }>(this.m, `UPDATE volume SET next_seq = next_seq + 1 WHERE id = $1 RETURNING next_seq - 1 AS seq`, [id]);
    return row.seq;
  }

  /** Volumes of a region that are not deleted (replicas included). */
  async countInRegion(region: string): Promise<number> {
    const [row] = await sqlRows<{ n: string }>(this.m, `SELECT count(*) AS n FROM volume WHERE region = $1 AND status <> 'deleted'`, [region]);
    return Number(row.n);
  }

  /** Live volumes of a region and their provisioned bytes: all of them, and those Cinder created. */
  async provisioned(region: string): Promise<{ cinderBytes: number; cinderVolumes: number; allBytes: number; allVolumes: number }> {
    const [row] = await sqlRows<{ cinder_bytes: string | null; cinder_n: string; all_bytes: string | null; all_n: string }>(
      this.m,
      `SELECT sum(size_bytes) FILTER (WHERE managed_by = 'cinder') AS cinder_bytes, count(*) FILTER (WHERE managed_by = 'cinder') AS cinder_n,
              sum(size_bytes) AS all_bytes, count(*) AS all_n
         FROM volume WHERE region = $1 AND status NOT IN ('deleted', 'replica')`,
      [region],
    );
    return {
      cinderBytes: Number(row.cinder_bytes ?? 0),
      cinderVolumes: Number(row.cinder_n),
      allBytes: Number(row.all_bytes ?? 0),
      allVolumes: Number(row.all_n),
    };
  }

  private async patch(id: string, fields: Partial<VolumeEntity>): Promise<void> {
    await patchByKey(this.m, VolumeEntity, id, { ...fields, updatedAt: new Date() });
  }
}
