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

/** A key wrapped by a KEK a rotation has replaced (or is replacing): wrap it by the current one and keep it again. */
export class StaleKekError extends Error {
  readonly staleKek = true;

  constructor(projectId: string, kekId: string, current: string) {
    super(`the key of project ${projectId} is wrapped by KEK ${kekId}, no longer the current one (${current})`);
    this.name = 'StaleKekError';
  }
}

/** Projects' wrapped master keys: kept once (the first writer wins), re-wrapped by rotations, shredded on request. */
export class ProjectKeyRepository {
  constructor(private readonly m: EntityManager) {}

  async find(projectId: string): Promise<StoredProjectKey | null> {
    const [row] = await sqlRows<Row>(this.m, `SELECT project_id, kek_id, wrapped, shredded_at FROM project_key WHERE project_id = $1`, [projectId]);
    return row ? toKey(row) : null;
  }

  /**
   * Keeps a new project's wrapped key unless it has one already; returns the key the project has — this one, or
   * the one another process kept first (so every process uses the same key). Only under the current KEK
   * (`kek_state`, set by rotations; the first key sets it): a key wrapped by another is refused with a
   * StaleKekError (read the key manager's current KEK again). The share lock makes a rotation's switch wait for keys
   * being kept under the previous KEK, so its re-wrapping finds them all.
   */
  async keep(projectId: string, kekId: string, wrapped: Record<string, unknown>): Promise<StoredProjectKey> {
    return this.m.transaction(async (m) => {
      await m.query(`INSERT INTO kek_state (id, current_kek_id) VALUES (1, $1) ON CONFLICT DO NOTHING`, [kekId]);
      const [state] = await sqlRows<{ current_kek_id: string }>(m, `SELECT current_kek_id FROM kek_state WHERE id = 1 FOR SHARE`);
      if (state.current_kek_id !== kekId) throw new StaleKekError(projectId, kekId, state.current_kek_id);
      await m.query(`INSERT INTO project (id) VALUES ($1) ON CONFLICT DO NOTHING`, [projectId]);
      await m.query(`INSERT INTO project_key (project_id, kek_id, wrapped) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, [
        projectId,
        kekId,
        JSON.stringify(wrapped),
      ]);
      const kept = await new ProjectKeyRepository(m).find(projectId);
      if (!kept) throw new Error(`the key of project ${projectId} was not kept`);
      return kept;
    });
  }

  /** Makes `kekId` the KEK new keys must be wrapped by; waits for keys being kept under the previous one. */
  async setCurrentKek(kekId: string): Promise<void> {
    await this.m.query(
      `INSERT INTO kek_state (id, current_kek_id) VALUES (1, $1)
       ON CONFLICT (id) DO UPDATE SET current_kek_id = EXCLUDED.current_kek_id, changed_at = now()`,
      [kekId],
    );
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
