import { Logger } from '@nestjs/common';
import { Channel, ChannelModel, ConfirmChannel, connect, Options, RecoveringChannelModel } from 'amqplib';
import { BrokerUnavailableError } from './messaging-errors';

export type ConnectionSetup = (model: ChannelModel) => Promise<void>;

/**
 * One recovering AMQP connection per process: reconnects with backoff after any loss and runs every
 * registered setup again (topology, consumers), so a broker restart is survived rather than a crash loop.
 * Publishing goes through a confirm channel: a publish resolves only once the broker has the message.
 */
export class AmqpConnection {
  private readonly logger = new Logger('AmqpConnection');
  private readonly setups: ConnectionSetup[] = [];
  private model?: RecoveringChannelModel;
  private publisher?: ConfirmChannel;
  private lastError = 'not connected yet';

  constructor(
    private readonly url: string,
    /** Shown by `rabbitmqctl list_connections name` and the management UI. */
    private readonly connectionName: string,
  ) {}

  /** Registers work to redo after every (re)connection; call before `start`. */
  onConnect(setup: ConnectionSetup): void {
    this.setups.push(setup);
  }

  /** Starts connecting in the background; returns at once (readiness reports the state). */
  async start(): Promise<void> {
    this.model = await connect(this.url, {
      clientProperties: { connection_name: this.connectionName },
      // a message is several small frames: with Nagle's algorithm on, the broker's delayed ACK held
      // a publish back ~40 ms on every hop of a snapshot
      noDelay: true,
      recovery: {
        initialDelay: 200,
        maxDelay: 10_000,
        waitForConnect: false,
        setup: async (model: ChannelModel) => {
          const publisher = await model.createConfirmChannel();
          publisher.on('error', (error: Error) => this.logger.warn(`publish channel: ${error.message}`));
          publisher.on('close', () => {
            if (this.publisher === publisher) this.publisher = undefined;
          });
          for (const setup of this.setups) await setup(model);
          this.publisher = publisher;
        },
      },
    });
    this.model.on('connect', () => this.logger.log(`connected to ${redact(this.url)}`));
    this.model.on('disconnect', (error: Error) => {
      this.publisher = undefined;
      this.lastError = error?.message ?? 'disconnected';
      this.logger.warn(`connection lost (${this.lastError}); reconnecting`);
    });
    this.model.on('reconnect-scheduled', (info: { attempt: number; delay: number; error: Error }) => {
      this.lastError = info.error?.message ?? 'connection failed';
      if (info.attempt === 1 || info.attempt % 10 === 0) {
        this.logger.warn(`cannot reach ${redact(this.url)} (${this.lastError}); attempt ${info.attempt}, next in ${info.delay} ms`);
      }
    });
    this.model.on('error', (error: Error) => (this.lastError = error.message));
  }

  isConnected(): boolean {
    return this.publisher !== undefined;
  }

  /** Throws with the last connection error unless connected (for readiness). */
  assertConnected(): void {
    if (!this.publisher) throw new BrokerUnavailableError(this.lastError);
  }

  /** A channel of the process's own (a request's reply consumer); it closes with the connection. */
  async openChannel(): Promise<Channel> {
    if (!this.model || !this.publisher) throw new BrokerUnavailableError(this.lastError);
    return this.model.createChannel();
  }

  /** Publishes and waits for the broker's confirm. */
  publish(exchange: string, routingKey: string, content: Buffer, options: Options.Publish): Promise<void> {
    const channel = this.publisher;
    if (!channel) return Promise.reject(new BrokerUnavailableError(this.lastError));
    return new Promise((resolve, reject) => {
      channel.publish(exchange, routingKey, content, options, (error: unknown) =>
        error ? reject(new BrokerUnavailableError(`publish to ${exchange} ${routingKey} not confirmed: ${String(error)}`)) : resolve(),
      );
    });
  }

  async close(): Promise<void> {
    const model = this.model;
    this.model = undefined;
    this.publisher = undefined;
    await model?.close().catch(() => undefined);
  }
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
}
