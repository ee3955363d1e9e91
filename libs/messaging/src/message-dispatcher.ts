import { Logger } from '@nestjs/common';
import { ConsumeMessage, Options } from 'amqplib';
import { ContractDefinition, contractKey, ContractViolationError, failureReport, OperationFailedEvent, parsePayload } from '@island/contracts';
import { MetricsService } from '@island/platform';
import { AmqpConnection } from './amqp-connection';
import { BrokerNames, HEADERS } from './broker-names';
import { MessageContext, MessageHandler } from './message-context';
import { isPermanentFailure } from './messaging-errors';

export interface RegisteredHandler {
  contract: ContractDefinition;
  handle: MessageHandler;
}

/** Tells the API that a job failed for good (an OperationFailed event), so it ends what the job was part of. */
export type FailureReporter = (report: OperationFailedEvent) => Promise<void>;

/** What became of a delivery; the consumer acks in every case (retry and dead letter are new messages). */
export type Outcome = 'handled' | 'retried' | 'dead-lettered';

/**
 * Turns one delivery into a handler call: identify the contract, validate the payload, run the handler.
 * A message that is malformed or permanently failing goes to the dead-letter queue with its reason; a
 * handler failure is retried after a delay (through the retry queues) and dead-lettered when retries run out.
 * A job that fails for good — a permanent failure, or its last attempt — is reported before it is
 * dead-lettered: its contract's failure policy names what the API must end, so nothing waits on it forever.
 */
export class MessageDispatcher {
  private readonly logger = new Logger('MessageDispatcher');
  private readonly handlers = new Map<string, RegisteredHandler>();

  constructor(
    handlers: RegisteredHandler[],
    private readonly connection: AmqpConnection,
    private readonly names: BrokerNames,
    private readonly retryDelaysMs: number[],
    private readonly metrics: MetricsService,
    private readonly reportFailure: FailureReporter,
  ) {
    for (const h of handlers) this.handlers.set(contractKey(h.contract), h);
  }

  async dispatch(queue: string, message: ConsumeMessage): Promise<Outcome> {
    const headers = message.properties.headers ?? {};
    const name = headers[HEADERS.contract];
    const version = headers[HEADERS.version];
    const key = typeof name === 'string' && version !== undefined ? contractKey({ name, version: String(version) }) : undefined;
    const attempt = Number(headers[HEADERS.attempt] ?? 1) || 1;
    const registered = key ? this.handlers.get(key) : undefined;
    if (!registered) {
      const reason = key ? `no handler for contract ${key} on queue ${queue}` : `message without ${HEADERS.contract}/${HEADERS.version} headers`;
      await this.deadLetter(queue, message, reason, key ?? 'unknown');
      return 'dead-lettered';
    }
    let payload: object;
    try {
      payload = parsePayload(registered.contract, JSON.parse(message.content.toString('utf8')));
    } catch (error) {
      const reason = error instanceof ContractViolationError ? error.message : `${key}: body is not JSON (${(error as Error).message})`;
      await this.deadLetter(queue, message, reason, key as string);
      return 'dead-lettered';
    }
    const context: MessageContext = {
      contract: key as string,
      messageId: message.properties.messageId as string | undefined,
      attempt,
      redelivered: message.fields.redelivered,
      finalAttempt: attempt > this.retryDelaysMs.length,
      routingKey: message.fields.routingKey,
      replyTo: message.properties.replyTo as string | undefined,
      correlationId: message.properties.correlationId as string | undefined,
    };
    const timer = this.metrics.histogram('island_message_handler_seconds', 'Time spent in message handlers', ['contract']).startTimer({ contract: key });
    try {
      await registered.handle(payload, context);
      this.metrics.counter('island_messages_consumed_total', 'Messages handled successfully', ['contract']).inc({ contract: key });
      return 'handled';
    } catch (error) {
      const reason = `${key}: ${(error as Error).message ?? String(error)}`;
      this.metrics.counter('island_message_failures_total', 'Handler failures', ['contract']).inc({ contract: key });
      const permanent = isPermanentFailure(error);
      if (permanent || attempt > this.retryDelaysMs.length) {
        const why = permanent ? reason : `${reason} (gave up after ${attempt} attempts)`;
        const report = failureReport(
          registered.contract,
          payload,
          permanent ? (error as Error).message : `gave up after ${attempt} attempts: ${(error as Error).message}`,
        );
        if (report) {
          this.logger.warn(`${key} for ${report.resourceId} failed for good, ending its ${report.ends}: ${report.reason}`);
          await this.reportFailure(report);
        }
        await this.deadLetter(queue, message, why, key as string);
        return 'dead-lettered';
      }
      const delay = this.retryDelaysMs[attempt - 1];
      this.logger.warn(`${reason}; attempt ${attempt} failed, retrying in ${delay} ms`);
      await this.connection.publish('', this.names.retryQueue(queue, delay), message.content, {
        ...republishOptions(message),
        headers: { ...headers, [HEADERS.attempt]: attempt + 1 },
      });
      return 'retried';
    } finally {
      timer();
    }
  }

  private async deadLetter(queue: string, message: ConsumeMessage, reason: string, contract: string): Promise<void> {
    this.logger.error(`dead-lettering a message from ${queue}: ${reason}`);
    this.metrics.counter('island_messages_dead_lettered_total', 'Messages moved to the dead-letter queue', ['contract']).inc({ contract });
    await this.connection.publish(this.names.deadExchange, message.fields.routingKey, message.content, {
      ...republishOptions(message),
      headers: {
        ...message.properties.headers,
        [HEADERS.reason]: reason,
        [HEADERS.queue]: queue,
        [HEADERS.failedAt]: new Date().toISOString(),
      },
    });
  }
}

function republishOptions(message: ConsumeMessage): Options.Publish {
  return {
    persistent: true,
    contentType: message.properties.contentType as string | undefined,
    messageId: message.properties.messageId as string | undefined,
    timestamp: message.properties.timestamp as number | undefined,
  };
}
