import { EntityManager } from 'typeorm';
import { sqlRows } from '../ledger/sql-rows';

/** What a region holds, as counted for a listing. */
export interface RegionCounts {
  region: string;
  hostsOnline: number;
  volumes: number;
  snapshots: number;
}

/** Regions: configuration mirrored into the catalog (their Swift containers), and what each holds. */
export class RegionRepository {
  constructor(private readonly m: EntityManager) {}

  /** The region row follows the configuration: created, or its container updated. */
  async sync(name: string, container: string): Promise<void> {
    await this.m.query(`INSERT INTO region (name, container) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET container = $2`, [name, container]);
  }

  /** Per region: hosts seen within `onlineSeconds`, and the live volumes and snapshots (of one project, with a scope). */
  async counts(onlineSeconds: number, scope?: string): Promise<RegionCounts[]> {
    const rows = await sqlRows<{ region: string; hosts: string; volumes: string; snapshots: string }>(
      this.m,
      `SELECT r.name AS region,
              (SELECT count(*) FROM host h WHERE h.region = r.name AND h.last_seen_at > now() - make_interval(secs => $1)) AS hosts,
              (SELECT count(*) FROM volume v WHERE v.region = r.name AND v.status NOT IN ('deleted', 'replica') AND ($2::text IS NULL OR v.project_id = $2)) AS volumes,
              (SELECT count(*) FROM snapshot s WHERE s.region = r.name AND s.status <> 'deleted' AND ($2::text IS NULL OR s.project_id = $2)) AS snapshots
         FROM region r`,
      [onlineSeconds, scope ?? null],
    );
    return rows.map((r) => ({ region: r.region, hostsOnline: Number(r.hosts), volumes: Number(r.volumes), snapshots: Number(r.snapshots) }));
  }
}
