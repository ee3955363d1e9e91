import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { ChannelModel, ConsumeMessage } from 'amqplib';
import { AmqpConnection, BrokerNames, HEADERS } from '@island/messaging';
import { MetricsService } from '@island/platform';
import { UnitOfWork } from '../outbox/unit-of-work';

/** A dead letter that could not be stored is given back to its queue after this pause. */
const RETRY_ARCHIVE_MS = 5_000;

/**
 * Moves every message that failed for good from RabbitMQ's dead-letter queue into the catalog, where the
 * admin lists them (`island ops dead-letters`) and re-sends one (`island ops retry`); each is acked only
 * once it is stored. Their operations have already been ended by the failure report (or the sweeper).
 */
@Injectable()
export class DeadLetterArchive implements OnModuleInit {
  private readonly logger = new Logger(DeadLetterArchive.name);

  constructor(
    private readonly connection: AmqpConnection,
    private readonly names: BrokerNames,
    private readonly uow: UnitOfWork,
    private readonly metrics: MetricsService,
  ) {}

  onModuleInit(): void {
    this.connection.onConnect(async (model: ChannelModel) => {
      const channel = await model.createChannel();
      channel.on('error', (error: Error) => this.logger.warn(`dead-letter channel: ${error.message}`));
      await channel.prefetch(16);
      await channel.assertQueue(this.names.deadQueue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
      await channel.consume(this.names.deadQueue, (message) => {
        if (!message) return;
        this.archive(message).then(
          () => channel.ack(message),
          (error: Error) => {
            this.logger.warn(`dead letter not archived (${error.message}); it stays in ${this.names.deadQueue}`);
            // given back after a pause: a catalog that is down is not asked again in a tight loop
            setTimeout(() => {
              try {
                channel.nack(message, false, true);
              } catch {
                // the channel closed meanwhile: the broker returns the message to the queue itself
              }
            }, RETRY_ARCHIVE_MS);
          },
        );
      });
    });
  }

  private async archive(message: ConsumeMessage): Promise<void> {
    const headers = message.properties.headers ?? {};
    const contract = typeof headers[HEADERS.contract] === 'string' ? (headers[HEADERS.contract] as string) : 'unknown';
    const failedAt = new Date(String(headers[HEADERS.failedAt] ?? ''));
    await this.uow.read((catalog) =>
      catalog.deadLetters.add({
        contract,
        version: Number.isInteger(Number(headers[HEADERS.version])) ? Number(headers[HEADERS.version]) : null,
        routingKey: message.fields.routingKey,
        queue: typeof headers[HEADERS.queue] === 'string' ? (headers[HEADERS.queue] as string) : null,
        reason: String(headers[HEADERS.reason] ?? 'no reason given'),
        payload: parseBody(message.content),
        failedAt: Number.isNaN(failedAt.getTime()) ? new Date() : failedAt,
      }),
    );
    this.metrics.counter('island_dead_letters_archived_total', 'Messages that failed for good, kept in the catalog', ['contract']).inc({ contract });
  }
}

/** The message's JSON body, or (a body that is not JSON) its bytes in base64. */
function parseBody(content: Buffer): unknown {
  try {
    return JSON.parse(content.toString('utf8'));
  } catch {
    return { notJson: content.toString('base64') };
  }
}
