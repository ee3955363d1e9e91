import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { sqlRows } from '@island/catalog';
import { IslandConfig } from '@island/config';
import { InjectConfig } from '@island/platform';
import { Caller } from '../auth/caller';
import { HOST_OFFLINE_AFTER_MS } from '../dtos/host.dto';
import { RegionView } from '../dtos/region.dto';

@Injectable()
export class RegionService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @InjectConfig() private readonly config: IslandConfig,
  ) {}

  async list(caller: Caller): Promise<RegionView[]> {
    const counts = await sqlRows<{ region: string; hosts: string; volumes: string; snapshots: string }>(
      this.dataSource.manager,
      `SELECT r.name AS region,
              (SELECT count(*) FROM host h WHERE h.region = r.name AND h.last_seen_at > now() - make_interval(secs => $1)) AS hosts,
              (SELECT count(*) FROM volume v WHERE v.region = r.name AND v.status NOT IN ('deleted', 'replica') AND ($2::text IS NULL OR v.project_id = $2)) AS volumes,
              (SELECT count(*) FROM snapshot s WHERE s.region = r.name AND s.status <> 'deleted' AND ($2::text IS NULL OR s.project_id = $2)) AS snapshots
         FROM region r`,
      [HOST_OFFLINE_AFTER_MS / 1000, caller.scope ?? null],
    );
    const byName = new Map(counts.map((c) => [c.region, c]));
    return this.config.regions.map((r) => ({
      name: r.name,
      default: r.name === this.config.region,
      swiftAuthUrl: r.swift.authUrl,
      container: r.container,
      hostsOnline: Number(byName.get(r.name)?.hosts ?? 0),
      volumes: Number(byName.get(r.name)?.volumes ?? 0),
      snapshots: Number(byName.get(r.name)?.snapshots ?? 0),
    }));
  }
}
