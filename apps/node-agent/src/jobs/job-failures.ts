import { Logger } from '@nestjs/common';
import { OperationFailed } from '@island/contracts';
import { MessagePublisher } from '@island/messaging';
import { PathOutsideDataDirError } from '@island/platform';
import { ImageLockedError, Qcow2Error } from '@island/qcow2';
import { QmpCommandError } from '../qmp/qmp-errors';

/**
 * Runs a job; a failure that retrying cannot fix (a bad or missing image, a refused path, a QMP command
 * QEMU refused) is reported to
 * the API as OperationFailed instead of being retried. Anything else — an image another writer holds,
 * a lost broker — is thrown, so the message is retried after a delay.
 */
export async function reportingPermanentFailures(
  publisher: MessagePublisher,
  logger: Logger,
  job: { name: string; host: string; resourceId: string; operationId?: string },
  work: () => Promise<void>,
): Promise<void> {
  try {
    await work();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // another writer still holds the image after the in-place wait: the message is retried with growing delays
    if (error instanceof ImageLockedError) throw error;
    // QEMU refusing a command (e.g. growing a qcow2 image that has internal snapshots) refuses it again
    const permanent = error instanceof Qcow2Error || error instanceof QmpCommandError || error instanceof PathOutsideDataDirError || code === 'ENOENT';
    if (!permanent) throw error;
    const reason = (error as Error).message;
    logger.warn(`${job.name} for ${job.resourceId} failed for good: ${reason}`);
    await publisher.publish(OperationFailed, {
      job: job.name,
      resourceId: job.resourceId,
      operationId: job.operationId,
      reason: reason.slice(0, 2000),
      host: job.host,
    });
  }
}
