import { EntityManager } from 'typeorm';
import { HostEntity } from '../entities/host.entity';
import { sqlRows } from '../ledger/sql-rows';

/** What an agent reports about its host at every heartbeat. */
export interface HostReport {
  name: string;
  region: string;
  dataDir: string;
  capacityBytes: number;
  freeBytes: number;
  agentVersion: string;
}

/** Hosts: the agents that heartbeat, their disks, when they were last seen. */
export class HostRepository {
  constructor(private readonly m: EntityManager) {}

  /** Registers the host or refreshes what it reported; it is seen now. */
  async recordHeartbeat(h: HostReport): Promise<void> {
    await this.m.query(
      `INSERT INTO host (name, region, data_dir, capacity_bytes, free_bytes, agent_version, last_seen_at)
       VALUES ($1, $2, $3, $4, $5, $6, now())
       ON CONFLICT (name) DO UPDATE SET region = $2, data_dir = $3, capacity_bytes = $4, free_bytes = $5,
                                        agent_version = $6, last_seen_at = now()`,
      [h.name, h.region, h.dataDir, h.capacityBytes, h.freeBytes, h.agentVersion],
    );
  }

  byName(name: string): Promise<HostEntity | null> {
    return this.m.getRepository(HostEntity).findOne({ where: { name } });
  }

  list(): Promise<HostEntity[]> {
    return this.m.getRepository(HostEntity).find({ order: { name: 'ASC' } });
  }

  /** Capacity of a region's hosts seen within `onlineSeconds`: summed, the largest free, and how many. */
  async onlineCapacity(region: string, onlineSeconds: number): Promise<{ totalBytes: number; freeBytes: number; largestFreeBytes: number; hosts: number }> {
    const [row] = await sqlRows<{ total: string | null; free: string | null; largest_free: string | null; n: string }>(
      this.m,
      `SELECT sum(capacity_bytes) AS total, sum(free_bytes) AS free, max(free_bytes) AS largest_free, count(*) AS n FROM host
        WHERE region = $1 AND last_seen_at > now() - make_interval(secs => $2)`,
      [region, onlineSeconds],
    );
    return { totalBytes: Number(row.total ?? 0), freeBytes: Number(row.free ?? 0), largestFreeBytes: Number(row.largest_free ?? 0), hosts: Number(row.n) };
  }
}
