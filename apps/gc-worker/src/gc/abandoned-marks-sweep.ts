import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { IslandConfig } from '@island/config';
import { InjectConfig, PeriodicTask } from '@island/platform';
import { GarbageCollector } from './garbage-collector';

const SWEEP_EVERY_MS = 3_000;

/**
 * Completes, in every region, the deletes of GC runs that died between marking blocks and forgetting them, as soon
 * as their marks may be taken over — scheduled GC runs or not: uploads that need one of those contents are waiting.
 */
@Injectable()
export class AbandonedMarksSweep implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(AbandonedMarksSweep.name);
  private readonly task = new PeriodicTask(
    () => this.sweep(),
    (e) => this.logger.warn(`abandoned GC marks: ${e.message}`),
  );

  constructor(
    @InjectConfig() private readonly config: IslandConfig,
    private readonly collector: GarbageCollector,
  ) {}

  onApplicationBootstrap(): void {
    this.task.start(SWEEP_EVERY_MS);
  }

  onApplicationShutdown(): Promise<void> {
    return this.task.stop();
  }

  private async sweep(): Promise<void> {
    for (const region of this.config.regions) {
      try {
        const done = await this.collector.completeAbandoned(region.name);
        if (done.blocks > 0) this.logger.warn(`region ${region.name}: deleted ${done.blocks} block(s) a stopped GC run had marked`);
      } catch (error) {
        this.logger.warn(`completing abandoned GC deletes in region ${region.name} failed (retried shortly): ${(error as Error).message}`);
      }
    }
  }
}
