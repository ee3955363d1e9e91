import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { IslandConfig } from '@island/config';
import { InjectConfig, PeriodicTask } from '@island/platform';
import { GarbageCollector } from './garbage-collector';

/**
 * The worker's own GC runs: every region, every ISLAND_GC_INTERVAL_SECONDS, with the configured grace.
 * Several replicas may run at once: each marks a disjoint set of blocks.
 */
@Injectable()
export class GcScheduler implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(GcScheduler.name);
  private readonly task = new PeriodicTask(
    () => this.runAll(),
    (e) => this.logger.warn(`GC runs: ${e.message}`),
  );

  constructor(
    @InjectConfig() private readonly config: IslandConfig,
    private readonly collector: GarbageCollector,
  ) {}

  onApplicationBootstrap(): void {
    const seconds = this.config.gc.intervalSeconds;
    if (seconds === 0) return;
    this.task.start(seconds * 1000);
  }

  onApplicationShutdown(): Promise<void> {
    return this.task.stop();
  }

  private async runAll(): Promise<void> {
    for (const region of this.config.regions) {
      try {
        const report = await this.collector.collect(region.name, this.config.gc.graceSeconds, false);
        if (report.blocksDeleted + report.manifestsDeleted > 0) {
          this.logger.log(
            `region ${region.name}: deleted ${report.blocksDeleted} block(s) (${report.bytesFreed} bytes) and ${report.manifestsDeleted} manifest(s); ${report.blocksPending} in grace`,
          );
        }
      } catch (error) {
        this.logger.warn(`GC of region ${region.name} failed (next run retries): ${(error as Error).message}`);
      }
    }
  }
}
