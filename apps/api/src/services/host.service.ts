import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { IslandConfig } from '@island/config';
import { HostEntity } from '@island/catalog';
import { AgentHeartbeatEvent } from '@island/contracts';
import { PermanentMessageError } from '@island/messaging';
import { InjectConfig } from '@island/platform';
import { Caller } from '../auth/caller';
import { HostView } from '../dtos/host.dto';

@Injectable()
export class HostService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @InjectConfig() private readonly config: IslandConfig,
  ) {}

  /** Registers or refreshes the agent's host; a heartbeat from an unknown region is refused. */
  async heartbeat(e: AgentHeartbeatEvent): Promise<void> {
    if (!this.config.regions.some((r) => r.name === e.region)) {
      throw new PermanentMessageError(`agent ${e.host} reports region ${e.region}, which this API does not know`);
    }
    await this.dataSource.query(
      `INSERT INTO host (name, region, data_dir, capacity_bytes, free_bytes, agent_version, last_seen_at)
       VALUES ($1, $2, $3, $4, $5, $6, now())
       ON CONFLICT (name) DO UPDATE SET region = $2, data_dir = $3, capacity_bytes = $4, free_bytes = $5,
                                        agent_version = $6, last_seen_at = now()`,
      [e.host, e.region, e.dataDir, e.capacityBytes, e.freeBytes, e.version],
    );
  }

  /** Every host; a data directory, its capacity and the agent's version only for the admin. */
  async list(caller: Caller): Promise<HostView[]> {
    const hosts = await this.dataSource.getRepository(HostEntity).find({ order: { name: 'ASC' } });
    return hosts.map((h) => HostView.of(h, caller.admin));
  }
}
