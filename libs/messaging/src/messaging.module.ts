import { DynamicModule, Inject, Logger, Module, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { DiscoveryModule, DiscoveryService, MetadataScanner } from '@nestjs/core';
import { Channel, ChannelModel } from 'amqplib';
import { IslandConfig } from '@island/config';
import { contractsConsumedBy, OperationFailed, queuesFor, ServiceName } from '@island/contracts';
import { ISLAND_CONFIG, MetricsService, ReadinessRegistry } from '@island/platform';
import { AmqpConnection } from './amqp-connection';
import { BrokerNames } from './broker-names';
import { checkHandlers, discoverHandlers } from './handler-discovery';
import { MessageDispatcher } from './message-dispatcher';
import { MessagePublisher } from './message-publisher';
import { MessageRequester } from './message-requester';
import { declareTopology } from './topology-setup';
import { DEFAULT_RETRY_DELAYS_MS, MESSAGING_OPTIONS, MessagingOptions } from './messaging-options';

export interface MessagingModuleAsyncOptions {
  inject?: (string | symbol | (new (...args: never[]) => unknown))[];
  useFactory: (...args: never[]) => MessagingOptions;
}

/**
 * RabbitMQ for a Nest service. At bootstrap it discovers the `@OnMessage` handlers and refuses to start
 * unless they match the contracts the service consumes; then it connects (in the background, reconnecting
 * forever), declares the topology and consumes. Readiness `rabbitmq` reports the connection.
 */
@Module({})
export class MessagingModule implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Messaging');
  private readonly inFlight = new Set<Promise<void>>();
  private readonly consumers = new Map<string, Channel>();
  private stopping = false;
  /** The usual setup of an island service: broker, prefetch, namespace and host from the validated config. */
  static forService(service: ServiceName, overrides: Partial<Omit<MessagingOptions, 'service'>> = {}): DynamicModule {
    return MessagingModule.forRootAsync({
      inject: [ISLAND_CONFIG],
      useFactory: (config: IslandConfig) => ({
        service,
        host: service === 'node-agent' || service === 'snapshot-worker' ? config.host.name : undefined,
        url: config.amqp.url,
        prefetch: config.amqp.prefetch,
        namespace: config.amqp.namespace,
        ...overrides,
      }),
    });
  }

  static forRootAsync(options: MessagingModuleAsyncOptions): DynamicModule {
    return {
      module: MessagingModule,
      global: true,
      imports: [DiscoveryModule],
      providers: [
        { provide: MESSAGING_OPTIONS, inject: options.inject ?? [], useFactory: options.useFactory },
        { provide: BrokerNames, inject: [MESSAGING_OPTIONS], useFactory: (o: MessagingOptions) => new BrokerNames(o.namespace) },
        {
          provide: AmqpConnection,
          inject: [MESSAGING_OPTIONS],
          useFactory: (o: MessagingOptions) => new AmqpConnection(o.url, connectionName(o)),
        },
        {
          provide: MessagePublisher,
          inject: [AmqpConnection, BrokerNames, MetricsService],
          useFactory: (c: AmqpConnection, n: BrokerNames, m: MetricsService) => new MessagePublisher(c, n, m),
        },
        {
          provide: MessageRequester,
          inject: [AmqpConnection, BrokerNames],
          useFactory: (c: AmqpConnection, n: BrokerNames) => new MessageRequester(c, n),
        },
      ],
      exports: [MessagePublisher, MessageRequester, AmqpConnection, BrokerNames],
    };
  }

  constructor(
    @Inject(MESSAGING_OPTIONS) private readonly options: MessagingOptions,
    private readonly connection: AmqpConnection,
    private readonly names: BrokerNames,
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly metrics: MetricsService,
    private readonly readiness: ReadinessRegistry,
    private readonly publisher: MessagePublisher,
    private readonly requester: MessageRequester,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const { service } = this.options;
    const consumed = this.options.contracts ?? contractsConsumedBy(service);
    const handlers = discoverHandlers(this.discovery, this.scanner);
    checkHandlers(service, consumed, handlers);
    const retryDelays = this.options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
    const dispatcher = new MessageDispatcher(handlers, this.connection, this.names, retryDelays, this.metrics, (report) =>
      this.publisher.publish(OperationFailed, report),
    );
    const queues = queuesFor(service, this.options.host);
    this.connection.onConnect(async (model: ChannelModel) => {
      const channel = await model.createChannel();
      channel.on('error', (error: Error) => this.logger.warn(`consumer channel: ${error.message}`));
      const declared = await declareTopology(channel, this.names, queues, retryDelays);
      for (const [i, queue] of declared.entries()) {
        // RabbitMQ applies a (non-global) prefetch to each consumer started after it: a queue may have its own
        await channel.prefetch(queues[i].prefetch ?? this.options.prefetch);
        await this.consume(channel, queue, dispatcher);
      }
      this.logger.log(`${service} consuming ${declared.join(', ')} (${handlers.length} handlers)`);
    });
    this.readiness.register('rabbitmq', async () => this.connection.assertConnected());
    await this.connection.start();
  }

  /** Stops taking messages, lets handlers in flight finish (up to the grace period), then disconnects. */
  async onApplicationShutdown(): Promise<void> {
    this.stopping = true;
    await Promise.all([...this.consumers].map(([tag, channel]) => channel.cancel(tag).catch(() => undefined)));
    const grace = this.options.shutdownGraceMs ?? 10_000;
    if (this.inFlight.size > 0 && grace > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.allSettled(this.inFlight), new Promise((r) => (timer = setTimeout(r, grace)))]);
      clearTimeout(timer);
    }
    await this.requester.close();
    await this.connection.close();
  }

  private async consume(channel: Channel, queue: string, dispatcher: MessageDispatcher): Promise<void> {
    const { consumerTag } = await channel.consume(queue, (message) => {
      if (!message || this.stopping) return; // cancelled: unacked messages go back to the queue
      const work = dispatcher.dispatch(queue, message).then(
        () => settle(() => channel.ack(message)),
        (error: Error) => {
          // retry or dead letter could not be published: give the message back to the broker
          this.logger.warn(`${queue}: ${error.message}; returning the message to the queue`);
          settle(() => channel.nack(message, false, true));
        },
      );
      this.inFlight.add(work);
      void work.finally(() => this.inFlight.delete(work));
    });
    this.consumers.set(consumerTag, channel);
    channel.on('close', () => this.consumers.delete(consumerTag));
  }
}

/** Acks and nacks on a channel that closed meanwhile fail; the broker redelivers those messages itself. */
function settle(action: () => void): void {
  try {
    action();
  } catch {
    // channel closed: nothing to do
  }
}

function connectionName(options: MessagingOptions): string {
  const name = `island-${options.service}${options.host ? `@${options.host}` : ''}`;
  return options.namespace ? `${options.namespace}.${name}` : name;
}
