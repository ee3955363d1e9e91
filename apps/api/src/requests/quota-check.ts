import { IslandConfig } from '@island/config';
import { Catalog, QUOTA_RESOURCES, QuotaResource } from '@island/catalog';
import { QuotaExceededError } from '../errors/domain-errors';

const GIB = 1024 ** 3;

/** A project's limits (null: unlimited) and what it uses of them. */
export interface ProjectQuota {
  projectId: string;
  limits: Record<QuotaResource, number | null>;
  usage: Record<QuotaResource, number>;
  /** Seconds its deleted snapshots stay in the recycle bin, and whether that is the configured default. */
  snapshotRetentionSeconds: number;
  snapshotRetentionIsDefault: boolean;
}

/** What a project holds against its limits: its own, else the configured defaults. */
export async function projectQuota(catalog: Catalog, config: IslandConfig, projectId: string): Promise<ProjectQuota> {
  const { limits, usage, snapshotRetentionSeconds } = await catalog.projects.holdings(projectId);
  const defaults = config.quotas;
  return {
    projectId,
    limits: {
      volumes: limits.volumes ?? defaults.volumes ?? null,
      snapshots: limits.snapshots ?? defaults.snapshots ?? null,
      gigabytes: limits.gigabytes ?? defaults.gigabytes ?? null,
    },
    usage,
    snapshotRetentionSeconds: snapshotRetentionSeconds ?? config.recycleBin.retentionSeconds,
    snapshotRetentionIsDefault: snapshotRetentionSeconds === null,
  };
}

/**
 * Checks that `more` fits the project's limits, inside the transaction that then creates it. The project's
 * quota lock makes two concurrent requests count one after the other; it is taken last, right before the rows
 * are written, so its holder never waits for a lock another quota check holds.
 */
export async function reserveQuota(catalog: Catalog, config: IslandConfig, projectId: string, more: Partial<Record<QuotaResource, number>>): Promise<void> {
  await catalog.projects.lockQuota(projectId);
  const quota = await projectQuota(catalog, config, projectId);
  for (const resource of QUOTA_RESOURCES) {
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
