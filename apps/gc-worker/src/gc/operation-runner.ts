import { Injectable, Logger } from '@nestjs/common';
import { OperationFinished, OperationProgress } from '@island/contracts';
import { isCatalogUnavailable } from '@island/catalog';
import { MessagePublisher, PermanentMessageError } from '@island/messaging';

/** Progress events at most this often: an operator watches, the API need not see every batch. */
const PROGRESS_EVERY_MS = 1000;

/**
 * Runs one operator-requested operation (GC run, fsck, rebuild) and reports it to the API: progress while it
 * runs, then its report or the reason it failed. A failure is reported, not retried: the operator sees it
 * and runs it again; every operation here is safe to repeat.
 */
@Injectable()
export class OperationRunner {
  private readonly logger = new Logger(OperationRunner.name);

  constructor(private readonly publisher: MessagePublisher) {}

  async run(job: string, operationId: string, work: (progress: (done: number, total: number) => void) => Promise<object>): Promise<void> {
    let last = 0;
    const progress = (done: number, total: number) => {
      if (Date.now() - last < PROGRESS_EVERY_MS) return;
      last = Date.now();
      this.publisher
        .publish(OperationProgress, { operationId, resourceId: operationId, done, total: Math.max(done, total) })
        .catch((error: Error) => this.logger.warn(`progress of ${operationId} not sent: ${error.message}`));
    };
    let result: object;
    try {
      result = await work(progress);
    } catch (error) {
      const reason = isCatalogUnavailable(error)
        ? `the catalog database became unavailable (${(error as Error).message}); run it again once it is back`
        : (error as Error).message;
      this.logger.warn(`${job} ${operationId} failed: ${reason}`);
      // not retried: the dispatcher reports it (the operation fails) and keeps the message as a dead letter
      throw new PermanentMessageError(reason);
    }
    await this.publisher.publish(OperationFinished, { operationId, result: result as Record<string, unknown> });
  }
}
