import { EntityManager } from 'typeorm';
import { sqlRows } from '../ledger/sql-rows';

export const QUOTA_RESOURCES = ['volumes', 'snapshots', 'gigabytes'] as const;
export type QuotaResource = (typeof QUOTA_RESOURCES)[number];

/** A project's own limits (null: the configured default applies) and what it holds. */
export interface ProjectHoldings {
  limits: Record<QuotaResource, number | null>;
  usage: Record<QuotaResource, number>;
  /** Seconds its deleted snapshots stay in the recycle bin (null: the configured default). */
  snapshotRetentionSeconds: number | null;
}

const LIMIT_COLUMNS = { volumes: 'quota_volumes', snapshots: 'quota_snapshots', gigabytes: 'quota_gigabytes' } as const satisfies Record<QuotaResource, string>;

/** Projects: their quota limits and what they hold against them. */
export class ProjectRepository {
  constructor(private readonly m: EntityManager) {}

  async ensure(projectId: string): Promise<void> {
    await this.m.query(`INSERT INTO project (id) VALUES ($1) ON CONFLICT DO NOTHING`, [projectId]);
  }

  /**
   * Serializes quota checks of one project until the transaction ends (a transaction-scoped advisory lock):
   * two concurrent requests count one after the other.
   */
  async lockQuota(projectId: string): Promise<void> {
    await this.m.query(`SELECT pg_advisory_xact_lock(hashtextextended('island.quota:' || $1, 0))`, [projectId]);
  }

  /** Live volumes (each one's provisioned size in whole GiB) and snapshots, copies in other regions and the recycle bin's included. */
  async holdings(projectId: string): Promise<ProjectHoldings> {
    const [row] = await sqlRows<{
      v: number | null;
      s: number | null;
      g: number | null;
      retention: number | null;
      volumes: string;
      gib: string | null;
      snapshots: string;
    }>(
      this.m,
      `SELECT p.quota_volumes AS v, p.quota_snapshots AS s, p.quota_gigabytes AS g, p.snapshot_retention_seconds AS retention,
              (SELECT count(*) FROM volume WHERE project_id = $1 AND status NOT IN ('deleted', 'replica')) AS volumes,
              (SELECT sum(ceil(size_bytes / 1073741824.0)) FROM volume WHERE project_id = $1 AND status NOT IN ('deleted', 'replica')) AS gib,
              (SELECT count(*) FROM snapshot WHERE project_id = $1 AND status NOT IN ('deleted', 'error')) AS snapshots
         FROM (SELECT $1::text AS id) wanted LEFT JOIN project p ON p.id = wanted.id`,
      [projectId],
    );
    return {
      limits: { volumes: row.v, snapshots: row.s, gigabytes: row.g },
      usage: { volumes: Number(row.volumes), snapshots: Number(row.snapshots), gigabytes: Number(row.gib ?? 0) },
      snapshotRetentionSeconds: row.retention,
    };
  }

  /** Sets the limits given (null: back to the default); the others stay. */
  async setLimits(projectId: string, limits: Partial<Record<QuotaResource, number | null>>): Promise<void> {
    await this.ensure(projectId);
    for (const resource of QUOTA_RESOURCES) {
      const limit = limits[resource];
      if (limit !== undefined) await this.m.query(`UPDATE project SET ${LIMIT_COLUMNS[resource]} = $2 WHERE id = $1`, [projectId, limit]);
    }
  }

  /** Sets how long the project's deleted snapshots stay restorable (0: no recycle bin; null: back to the default). */
  async setSnapshotRetention(projectId: string, seconds: number | null): Promise<void> {
    await this.ensure(projectId);
    await this.m.query(`UPDATE project SET snapshot_retention_seconds = $2 WHERE id = $1`, [projectId, seconds]);
  }

  /** The project's own snapshot retention (null: the default applies, also for a project never seen). */
  async snapshotRetention(projectId: string): Promise<number | null> {
    const [row] = await sqlRows<{ seconds: number | null }>(this.m, `SELECT snapshot_retention_seconds AS seconds FROM project WHERE id = $1`, [projectId]);
    return row?.seconds ?? null;
  }
}
