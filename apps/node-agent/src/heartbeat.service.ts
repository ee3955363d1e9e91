import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { mkdir, statfs } from 'node:fs/promises';
import { AGENT_VERSION, AgentHeartbeat } from '@island/contracts';
import { IslandConfig } from '@island/config';
import { MessagePublisher } from '@island/messaging';
import { InjectConfig } from '@island/platform';

const INTERVAL_MS = 5_000;
const FIRST_BEAT_RETRY_MS = 250;

/** Announces this host (region, data directory, disk space) every few seconds; the API registers hosts from it. */
@Injectable()
export class HeartbeatService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Heartbeat');
  private timer?: NodeJS.Timeout;
  private failing = false;

  constructor(
    @InjectConfig() private readonly config: IslandConfig,
    private readonly publisher: MessagePublisher,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.beat(), INTERVAL_MS);
    void this.firstBeat();
  }

  /** The host is online as soon as the broker takes its first heartbeat, not one interval after a start-up miss. */
  private async firstBeat(): Promise<void> {
    for (let waited = 0; waited < INTERVAL_MS; waited += FIRST_BEAT_RETRY_MS) {
      if (await this.beat()) return;
      await new Promise((r) => setTimeout(r, FIRST_BEAT_RETRY_MS));
    }
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  /** Publishes one heartbeat; false when it could not. */
  async beat(): Promise<boolean> {
    try {
      const { dataDir } = this.config.host;
      await mkdir(dataDir, { recursive: true });
      const fs = await statfs(dataDir);
      await this.publisher.publish(AgentHeartbeat, {
        host: this.config.host.name,
        region: this.config.region,
        dataDir,
        capacityBytes: fs.blocks * fs.bsize,
        freeBytes: fs.bavail * fs.bsize,
        version: AGENT_VERSION,
      });
      if (this.failing) this.logger.log('heartbeats are published again');
      this.failing = false;
      return true;
    } catch (error) {
      if (!this.failing) this.logger.warn(`heartbeat not published: ${(error as Error).message}`);
      this.failing = true;
      return false;
    }
  }
}
