import { EntityManager } from 'typeorm';
import { sqlRows } from '../ledger/sql-rows';

/** A project's master key as the catalog keeps it: sealed by the KEK `kekId` (the blockstore's wrapped-key record). */
export interface StoredProjectKey {
  projectId: string;
  kekId: string;
  /** null once shredded. */
  wrapped: Record<string, unknown> | null;
  shreddedAt: Date | null;
}

export interface ProjectKeyStatus {
  projectId: string;
  kekId: string;
  createdAt: Date;
  rotatedAt: Date | null;
  shreddedAt: Date | null;
}

interface Row {
  project_id: string;
  kek_id: string;
  wrapped: Record<string, unknown> | null;
  shredded_at: Date | null;
}

const toKey = (r: Row): StoredProjectKey => ({ projectId: r.project_id, kekId: r.kek_id, wrapped: r.wrapped, shreddedAt: r.shredded_at });

/** Projects' wrapped master keys: kept once (the first writer wins), re-wrapped by rotations, shredded on request. */
export class ProjectKeyRepository {
  constructor(private readonly m: EntityManager) {}

  async find(projectId: string): Promise<StoredProjectKey | null> {
    const [row] = await sqlRows<Row>(this.m, `SELECT project_id, kek_id, wrapped, shredded_at FROM project_key WHERE project_id = $1`, [projectId]);
    return row ? toKey(row) : null;
  }

  /**
   * Keeps a new project's wrapped key unless it has one already; returns the key the project has — this one, or
   * the one another process kept first (so every process uses the same key).
   */
  async keep(projectId: string, kekId: string, wrapped: Record<string, unknown>): Promise<StoredProjectKey> {
    await this.m.query(`INSERT INTO project (id) VALUES ($1) ON CONFLICT DO NOTHING`, [projectId]);
    await this.m.query(`INSERT INTO project_key (project_id, kek_id, wrapped) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, [
      projectId,
      kekId,
      JSON.stringify(wrapped),
    ]);
    const kept = await this.find(projectId);
    if (!kept) throw new Error(`the key of project ${projectId} was not kept`);
    return kept;
  }

  /** Projects whose key the KEK `kekId` seals (what a rotation away from it must re-wrap). */
  async sealedBy(kekId: string): Promise<StoredProjectKey[]> {
    const rows = await sqlRows<Row>(
      this.m,
      `SELECT project_id, kek_id, wrapped, shredded_at FROM project_key WHERE kek_id = $1 AND shredded_at IS NULL ORDER BY project_id`,
      [kekId],
    );
    return rows.map(toKey);
  }

  /** Projects whose key another KEK than `kekId` seals (what a rotation to it must still re-wrap). */
  async sealedByOtherThan(kekId: string): Promise<StoredProjectKey[]> {
    const rows = await sqlRows<Row>(
      this.m,
      `SELECT project_id, kek_id, wrapped, shredded_at FROM project_key WHERE kek_id <> $1 AND shredded_at IS NULL ORDER BY project_id`,
      [kekId],
    );
    return rows.map(toKey);
  }

  /** Every project's key as operators see it: which KEK seals it and when it was made, re-wrapped or shredded (no key material). */
  async list(): Promise<ProjectKeyStatus[]> {
    const rows = await sqlRows<{ project_id: string; kek_id: string; created_at: Date; rotated_at: Date | null; shredded_at: Date | null }>(
      this.m,
      `SELECT project_id, kek_id, created_at, rotated_at, shredded_at FROM project_key ORDER BY project_id`,
    );
    return rows.map((r) => ({ projectId: r.project_id, kekId: r.kek_id, createdAt: r.created_at, rotatedAt: r.rotated_at, shreddedAt: r.shredded_at }));
  }

  /** Replaces a key sealed by `fromKekId` with its re-wrapping; false when it is no longer sealed by that KEK (done already, or shredded). */
  async rewrap(projectId: string, fromKekId: string, toKekId: string, wrapped: Record<string, unknown>): Promise<boolean> {
    const rows = await sqlRows<{ project_id: string }>(
      this.m,
      `UPDATE project_key SET kek_id = $3, wrapped = $4, rotated_at = now()
        WHERE project_id = $1 AND kek_id = $2 AND shredded_at IS NULL RETURNING project_id`,
      [projectId, fromKekId, toKekId, JSON.stringify(wrapped)],
    );
    return rows.length > 0;
  }

  /**
   * Drops a project's wrapped key: island reads none of its blocks and manifests any more. The erasure is final only
   * once the KEK is rotated away from (the old wrapping lingers in row versions, WAL and backups).
   */
  async shred(projectId: string): Promise<boolean> {
    const rows = await sqlRows<{ project_id: string }>(
      this.m,
      `UPDATE project_key SET wrapped = NULL, shredded_at = now() WHERE project_id = $1 AND shredded_at IS NULL RETURNING project_id`,
      [projectId],
    );
    return rows.length > 0;
  }
}
