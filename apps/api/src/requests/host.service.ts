import { Injectable } from '@nestjs/common';
import { IslandConfig } from '@island/config';
import { AgentHeartbeatEvent } from '@island/contracts';
import { PermanentMessageError } from '@island/messaging';
import { InjectConfig } from '@island/platform';
import { Caller } from '../auth/caller';
import { HostView } from '../dtos/host.dto';
import { UnitOfWork } from '../outbox/unit-of-work';

@Injectable()
export class HostService {
  constructor(
    @InjectConfig() private readonly config: IslandConfig,
    private readonly uow: UnitOfWork,
  ) {}

  /** Registers or refreshes the agent's host; a heartbeat from an unknown region is refused. */
  async heartbeat(e: AgentHeartbeatEvent): Promise<void> {
    if (!this.config.regions.some((r) => r.name === e.region)) {
      throw new PermanentMessageError(`agent ${e.host} reports region ${e.region}, which this API does not know`);
    }
    await this.uow.read((catalog) =>
      catalog.hosts.recordHeartbeat({
        name: e.host,
        region: e.region,
        dataDir: e.dataDir,
        capacityBytes: e.capacityBytes,
        freeBytes: e.freeBytes,
        agentVersion: e.version,
      }),
    );
  }

  /** Every host; a data directory, its capacity and the agent's version only for the admin. */
  async list(caller: Caller): Promise<HostView[]> {
    const hosts = await this.uow.read((catalog) => catalog.hosts.list());
    return hosts.map((h) => HostView.of(h, caller.admin));
  }
}
