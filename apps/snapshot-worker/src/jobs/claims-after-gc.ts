import { Logger } from '@nestjs/common';
import { waitingForBlockDeletes } from '@island/catalog';
import { MetricsService } from '@island/platform';

/** Runs a claim transaction again while GC is deleting blocks it needs (waitingForBlockDeletes); a wait is logged and counted. */
export function claimAfterGcDeletes<T>(claim: () => Promise<T>, what: string, logger: Logger, metrics: MetricsService): Promise<T> {
  return waitingForBlockDeletes(claim, (refusal) => {
    logger.log(`${what} waits for GC to finish deleting ${refusal.count} block(s)`);
    metrics.counter('island_worker_claim_waits_total', 'Claims that waited for GC to finish deleting blocks they need').inc();
  });
}
