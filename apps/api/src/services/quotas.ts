import { EntityManager } from 'typeorm';
import { IslandConfig } from '@island/config';
import { sqlRows } from '@island/catalog';
import { QuotaExceededError, QuotaResource } from '../errors/domain-errors';

const GIB = 1024 ** 3;

export type QuotaNumbers = Record<QuotaResource, number | null>;

/** A project's limits (null: unlimited) and what it uses of them. */
export interface ProjectQuota {
  projectId: string;
  limits: QuotaNumbers;
  usage: Record<QuotaResource, number>;
}

/** What a project holds: live volumes (each one's provisioned size in whole GiB) and snapshots, copies in other regions included. */
export async function projectQuota(m: EntityManager, config: IslandConfig, projectId: string): Promise<ProjectQuota> {
  const [row] = await sqlRows<{ v: number | null; s: number | null; g: number | null; volumes: string; gib: string | null; snapshots: string }>(
    m,
    `SELECT p.quota_volumes AS v, p.quota_snapshots AS s, p.quota_gigabytes AS g,
            (SELECT count(*) FROM volume WHERE project_id = $1 AND status NOT IN ('deleted', 'replica')) AS volumes,
            (SELECT sum(ceil(size_bytes / 1073741824.0)) FROM volume WHERE project_id = $1 AND status NOT IN ('deleted', 'replica')) AS gib,
            (SELECT count(*) FROM snapshot WHERE project_id = $1 AND status NOT IN ('deleted', 'error')) AS snapshots
       FROM (SELECT $1::text AS id) wanted LEFT JOIN project p ON p.id = wanted.id`,
    [projectId],
  );
  const defaults = config.quotas;
  return {
    projectId,
    limits: { volumes: row.v ?? defaults.volumes ?? null, snapshots: row.s ?? defaults.snapshots ?? null, gigabytes: row.g ?? defaults.gigabytes ?? null },
    usage: { volumes: Number(row.volumes), snapshots: Number(row.snapshots), gigabytes: Number(row.gib ?? 0) },
  };
}

/**
 * Checks that `more` fits the project's limits, inside the transaction that then creates it. A transaction-
 * scoped advisory lock per project makes two concurrent requests count one after the other; it is taken last,
 * right before the rows are written, so its holder never waits for a lock another quota check holds.
 */
export async function reserveQuota(m: EntityManager, config: IslandConfig, projectId: string, more: Partial<Record<QuotaResource, number>>): Promise<void> {
  await m.query(`SELECT pg_advisory_xact_lock(hashtextextended('island.quota:' || $1, 0))`, [projectId]);
  const quota = await projectQuota(m, config, projectId);
  for (const resource of ['volumes', 'snapshots', 'gigabytes'] as const) {
    const wanted = more[resource] ?? 0;
    const limit = quota.limits[resource];
    if (wanted > 0 && limit !== null && quota.usage[resource] + wanted > limit) {
      throw new QuotaExceededError(resource, limit, quota.usage[resource], wanted, projectId);
    }
  }
}

/** GiB a volume of `bytes` counts for (whole GiB, rounded up). */
export function gigabytesOf(bytes: number): number {
  return Math.ceil(bytes / GIB);
}
