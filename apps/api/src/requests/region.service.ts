import { Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { IslandConfig } from '@island/config';
import { InjectConfig } from '@island/platform';
import { Caller } from '../auth/caller';
import { HOST_OFFLINE_AFTER_MS } from '../dtos/host.dto';
import { RegionView } from '../dtos/region.dto';
import { UnitOfWork } from '../outbox/unit-of-work';

/** Regions are configuration: the catalog's region rows follow ISLAND_REGIONS at every API start. */
@Injectable()
export class RegionService implements OnApplicationBootstrap {
  constructor(
    @InjectConfig() private readonly config: IslandConfig,
    private readonly uow: UnitOfWork,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.uow.read(async (catalog) => {
      for (const region of this.config.regions) await catalog.regions.sync(region.name, region.container);
    });
  }

  async list(caller: Caller): Promise<RegionView[]> {
    const counts = await this.uow.read((catalog) => catalog.regions.counts(HOST_OFFLINE_AFTER_MS / 1000, caller.scope));
    const byName = new Map(counts.map((c) => [c.region, c]));
    return this.config.regions.map((r) => ({
      name: r.name,
      default: r.name === this.config.region,
      swiftAuthUrl: r.swift.authUrl,
      container: r.container,
      hostsOnline: byName.get(r.name)?.hostsOnline ?? 0,
      volumes: byName.get(r.name)?.volumes ?? 0,
      snapshots: byName.get(r.name)?.snapshots ?? 0,
    }));
  }
}
