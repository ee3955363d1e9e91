import { Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { IslandConfig } from '@island/config';
import { InjectConfig } from '@island/platform';

/** Regions are configuration: the catalog's region rows follow ISLAND_REGIONS at every API start. */
@Injectable()
export class RegionSync implements OnApplicationBootstrap {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @InjectConfig() private readonly config: IslandConfig,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    for (const region of this.config.regions) {
      await this.dataSource.query(`INSERT INTO region (name, container) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET container = $2`, [
        region.name,
        region.container,
      ]);
    }
  }
}
