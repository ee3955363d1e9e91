import { randomUUID } from 'node:crypto';
import { ContractDefinition, contractKey, parsePayload, PayloadOf } from '@island/contracts';
import { MetricsService } from '@island/platform';
import { AmqpConnection } from './amqp-connection';
import { BrokerNames, HEADERS } from './broker-names';
import { MessageContext } from './message-context';

/** Sends island messages: validated against their contract, persistent, confirmed by the broker. */
export class MessagePublisher {
  constructor(
    private readonly connection: AmqpConnection,
    private readonly names: BrokerNames,
    private readonly metrics: MetricsService,
  ) {}

  /** Validates and publishes; resolves once the broker confirmed. */
  async publish<C extends ContractDefinition>(contract: C, payload: PayloadOf<C>): Promise<void> {
    const plain = JSON.parse(JSON.stringify(payload)) as object;
    const checked = parsePayload(contract, plain);
    await this.publishRaw(contract.routingKey(checked), contract.name, contract.version, plain);
  }

  /** Answers a request (MessageRequester) on its reply queue; nothing when the sender asked for no reply. */
  async reply(context: MessageContext, content: Buffer, headers: Record<string, string | number>): Promise<void> {
    if (!context.replyTo) return;
    await this.connection.publish('', context.replyTo, content, { correlationId: context.correlationId, headers });
  }

  /** Publishes an already validated payload (the API's outbox stored it in the same transaction). */
  async publishRaw(routingKey: string, contract: string, version: number, payload: object): Promise<void> {
    await this.connection.publish(this.names.exchange, routingKey, Buffer.from(JSON.stringify(payload)), {
      persistent: true,
      contentType: 'application/json',
      messageId: randomUUID(),
      timestamp: Math.floor(Date.now() / 1000),
      headers: { [HEADERS.contract]: contract, [HEADERS.version]: version },
    });
    this.metrics
      .counter('island_messages_published_total', 'Messages published and confirmed', ['contract'])
      .inc({ contract: contractKey({ name: contract, version }) });
  }
}
