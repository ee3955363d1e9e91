import { randomUUID } from 'node:crypto';
import { Channel, ConsumeMessage } from 'amqplib';
import { ContractDefinition, parsePayload, PayloadOf } from '@island/contracts';
import { AmqpConnection } from './amqp-connection';
import { BrokerNames, HEADERS } from './broker-names';
import { BrokerUnavailableError } from './messaging-errors';

const REPLY_QUEUE = 'amq.rabbitmq.reply-to';

export interface Reply {
  content: Buffer;
  headers: Record<string, unknown>;
}

/** No consumer answered in time (none running, all busy, or the request expired in the queue). */
export class RequestTimeoutError extends Error {}

/**
 * Request and reply over RabbitMQ's direct reply-to: the request goes to its contract's consumers like any job, but
 * not persistent and expiring with the caller's patience, and the consumer answers straight to this process
 * (MessagePublisher.reply). For reads that change nothing, so they need no outbox. One channel per process, opened at
 * the first request and again after the connection was lost.
 */
export class MessageRequester {
  private channel?: Promise<Channel>;
  private readonly waiting = new Map<string, { resolve: (reply: Reply) => void; reject: (error: Error) => void }>();

  constructor(
    private readonly connection: AmqpConnection,
    private readonly names: BrokerNames,
  ) {}

  async request<C extends ContractDefinition>(contract: C, payload: PayloadOf<C>, timeoutMs: number): Promise<Reply> {
    const plain = JSON.parse(JSON.stringify(payload)) as object;
    const checked = parsePayload(contract, plain);
    const channel = await this.replyChannel();
    const correlationId = randomUUID();
    return new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(correlationId);
        reject(new RequestTimeoutError(`no answer to ${contract.name} within ${timeoutMs / 1000} s (are the ${contract.consumer}s running?)`));
      }, timeoutMs);
      const settle =
        <T>(fn: (v: T) => void) =>
        (v: T) => {
          clearTimeout(timer);
          this.waiting.delete(correlationId);
          fn(v);
        };
      this.waiting.set(correlationId, { resolve: settle(resolve), reject: settle(reject) });
      try {
        channel.publish(this.names.exchange, contract.routingKey(checked), Buffer.from(JSON.stringify(plain)), {
          persistent: false,
          expiration: String(timeoutMs),
          replyTo: REPLY_QUEUE,
          correlationId,
          contentType: 'application/json',
          headers: { [HEADERS.contract]: contract.name, [HEADERS.version]: contract.version },
        });
      } catch (error) {
        this.waiting.get(correlationId)?.reject(new BrokerUnavailableError(`cannot send ${contract.name}: ${(error as Error).message}`));
      }
    });
  }

  async close(): Promise<void> {
    const channel = await this.channel?.catch(() => undefined);
    this.channel = undefined;
    await channel?.close().catch(() => undefined);
  }

  private replyChannel(): Promise<Channel> {
    this.channel ??= this.openReplyChannel().catch((error: Error) => {
      this.channel = undefined;
      throw error;
    });
    return this.channel;
  }

  private async openReplyChannel(): Promise<Channel> {
    const channel = await this.connection.openChannel();
    const opened = this.channel;
    channel.on('error', () => undefined);
    channel.on('close', () => {
      if (this.channel === opened) this.channel = undefined;
      for (const [, waiter] of this.waiting) waiter.reject(new BrokerUnavailableError('the broker connection was lost while waiting for an answer'));
      this.waiting.clear();
    });
    await channel.consume(
      REPLY_QUEUE,
      (message: ConsumeMessage | null) => {
        if (!message) return;
        const waiter = this.waiting.get(message.properties.correlationId as string);
        waiter?.resolve({ content: message.content, headers: (message.properties.headers ?? {}) as Record<string, unknown> });
      },
      { noAck: true },
    );
    return channel;
  }
}
