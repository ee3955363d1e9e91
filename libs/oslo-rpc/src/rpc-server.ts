import { randomUUID } from 'node:crypto';
import { Channel, ChannelModel, ConfirmChannel, connect, ConsumeMessage } from 'amqplib';
import { RpcEndpoint, resolveMethod } from './dispatcher';
import { decodeRequest, encodeReply, loggableContext, MalformedRpcMessageError, RpcReply, RpcRequest } from './envelope';
import { RemoteFailure } from './remote-failure';

/** Transient queues (fanout) expire this long after their server is gone, as oslo declares them. */
const TRANSIENT_QUEUE_TTL_MS = 1_800_000;
/** A reply whose queue is missing is retried this long (kombu_missing_consumer_retry_timeout). */
const MISSING_REPLY_QUEUE_RETRY_MS = 60_000;
const RECONNECT_DELAY_MS = 1000;

export interface RpcLogger {
  log(message: string): void;
  warn(message: string): void;
}

export interface RpcServerOptions {
  /** amqp://user:pass@host:port/vhost */
  url: string;
  /** The control exchange (oslo's default `openstack`). */
  exchange: string;
  topic: string;
  /** This server's name: calls prepared with `server=` reach only it. */
  server: string;
  endpoints: RpcEndpoint[];
  /** Methods running at once (oslo's executor pool defaults to 64). */
  concurrency?: number;
  /** Turns an error a method threw into the exception the client raises. */
  translateError?: (error: unknown, request: RpcRequest) => RemoteFailure;
  logger?: RpcLogger;
}

interface PendingReply {
  queue: string;
  body: Buffer;
  deadline: number;
}

/**
 * An oslo.messaging RPC server on amqplib: it declares the topology a Python RPCServer declares (topic
 * queue shared by every server of the topic, a queue of its own, a fanout queue), acks each request before
 * running it (at-most-once, as oslo does), checks version and namespace as oslo's dispatcher does, sends
 * heartbeats while a call with a call-monitor timeout runs, and replies in oslo's envelope.
 */
export class OsloRpcServer {
  private connection: ChannelModel | undefined;
  private consumer: Channel | undefined;
  private publisher: ConfirmChannel | undefined;
  private fanoutQueue: string | undefined;
  private stopping = false;
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private readonly returned = new Map<string, PendingReply>();
  private readonly concurrency: number;
  private readonly logger: RpcLogger;

  constructor(private readonly options: RpcServerOptions) {
    this.concurrency = options.concurrency ?? 64;
    this.logger = options.logger ?? { log: () => undefined, warn: (m) => process.stderr.write(`${m}\n`) };
  }

  get connected(): boolean {
    return this.consumer !== undefined;
  }

  /**
   * Starts serving. A broker that cannot be reached yet is not fatal: the server keeps trying (and shows as
   * not connected meanwhile), as it does when a connection drops later.
   */
  async start(): Promise<void> {
    this.stopping = false;
    try {
      await this.open();
    } catch (error) {
      this.logger.warn(`oslo RPC server cannot reach the broker yet (${(error as Error).message}); retrying`);
      setTimeout(() => this.reconnect(), RECONNECT_DELAY_MS);
    }
  }

  /** Stops taking requests, lets the running ones reply, and closes. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.consumer?.close().catch(() => undefined);
    this.consumer = undefined;
    await Promise.allSettled([...this.inFlight]);
    if (this.fanoutQueue && this.publisher) await this.publisher.deleteQueue(this.fanoutQueue).catch(() => undefined);
    await this.connection?.close().catch(() => undefined);
    this.connection = undefined;
    this.publisher = undefined;
  }

  private async open(): Promise<void> {
    const url = new URL(this.options.url);
    if (!url.searchParams.has('heartbeat')) url.searchParams.set('heartbeat', '60');
    const connection = await connect(url.toString(), { noDelay: true }); // replies are small frames: no Nagle delay
    connection.on('error', (error: Error) => this.logger.warn(`oslo RPC connection error: ${error.message}`));
    connection.on('close', () => {
      if (this.connection !== connection) return; // a connection that never finished setting up
      this.connection = undefined;
      this.consumer = undefined;
      this.publisher = undefined;
      if (!this.stopping) setTimeout(() => this.reconnect(), RECONNECT_DELAY_MS);
    });
    try {
      await this.setUp(connection);
    } catch (error) {
      await connection.close().catch(() => undefined);
      throw error;
    }
  }

  private async setUp(connection: ChannelModel): Promise<void> {
    const { exchange, topic, server } = this.options;
    const consumer = await connection.createChannel();
    const publisher = await connection.createConfirmChannel();
    publisher.on('return', (message: ConsumeMessage) => this.onReturned(message));
    // exactly oslo's declarations: a declaration that differs in any argument is refused by the broker
    await consumer.assertExchange(exchange, 'topic', { durable: false, autoDelete: false });
    for (const queue of [topic, `${topic}.${server}`]) {
      await consumer.assertQueue(queue, { durable: false, autoDelete: false });
      await consumer.bindQueue(queue, exchange, queue);
    }
    await consumer.assertExchange(`${topic}_fanout`, 'fanout', { durable: false, autoDelete: true });
    const fanoutQueue = `${topic}_fanout_${randomUUID().replace(/-/g, '')}`;
    await consumer.assertQueue(fanoutQueue, { durable: false, autoDelete: false, arguments: { 'x-expires': TRANSIENT_QUEUE_TTL_MS } });
    await consumer.bindQueue(fanoutQueue, `${topic}_fanout`, topic);
    await consumer.prefetch(this.concurrency);
    this.publisher = publisher;
    this.fanoutQueue = fanoutQueue;
    for (const queue of [topic, `${topic}.${server}`, fanoutQueue]) {
      await consumer.consume(queue, (message) => message && this.onRequest(consumer, message), { noAck: false });
    }
    this.consumer = consumer;
    this.connection = connection; // from now on a closed connection means: reconnect
    this.logger.log(`oslo RPC server ${server} on topic ${topic} (exchange ${exchange})`);
  }

  private reconnect(): void {
    if (this.stopping) return;
    this.open().catch((error: Error) => {
      this.logger.warn(`oslo RPC reconnect failed: ${error.message}; retrying`);
      setTimeout(() => this.reconnect(), RECONNECT_DELAY_MS * 5);
    });
  }

  private onRequest(channel: Channel, message: ConsumeMessage): void {
    channel.ack(message); // oslo acknowledges before dispatching: a request runs at most once
    let request: RpcRequest;
    try {
      request = decodeRequest(message.content);
    } catch (error) {
      if (error instanceof MalformedRpcMessageError) {
        this.logger.warn(`${error.message}; dropped`);
        return;
      }
      throw error;
    }
    const work = this.withSlot(() => this.handle(request)).finally(() => this.inFlight.delete(work));
    this.inFlight.add(work);
  }

  private async withSlot(run: () => Promise<void>): Promise<void> {
    if (this.running >= this.concurrency) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.running++;
    try {
      await run();
    } finally {
      this.running--;
      this.waiting.shift()?.();
    }
  }

  private async handle(request: RpcRequest): Promise<void> {
    const started = Date.now();
    const heartbeat = this.startHeartbeat(request);
    let reply: RpcReply | undefined;
    try {
      const method = resolveMethod(this.options.endpoints, request);
      const result = await method(request.context, request.args);
      if (request.msgId) reply = { msgId: request.msgId, ending: true, result };
    } catch (error) {
      const failure = error instanceof RemoteFailure ? error : this.translate(error, request);
      this.logger.warn(`RPC ${request.method} failed: ${failure.name}: ${failure.message} ${JSON.stringify(loggableContext(request.context))}`);
      if (request.msgId) reply = { msgId: request.msgId, ending: true, failure };
    } finally {
      if (heartbeat) clearInterval(heartbeat);
    }
    if (reply && request.replyQueue) await this.reply(request.replyQueue, encodeReply(reply));
    this.logger.log(
      `RPC ${request.method} ${request.msgId ? 'call' : 'cast'} done in ${Date.now() - started} ms ${JSON.stringify(loggableContext(request.context))}`,
    );
  }

  private translate(error: unknown, request: RpcRequest): RemoteFailure {
    if (this.options.translateError) return this.options.translateError(error, request);
    return new RemoteFailure('RuntimeError', 'builtins', error instanceof Error ? error.message : String(error));
  }

  /** While a call with a call-monitor timeout runs, a heartbeat every half of it keeps the client waiting. */
  private startHeartbeat(request: RpcRequest): NodeJS.Timeout | undefined {
    const timeout = request.callMonitorTimeout;
    if (!request.msgId || !request.replyQueue || timeout === undefined || Math.floor(timeout) / 2 < 1) return undefined;
    const queue = request.replyQueue;
    const beat = encodeReply({ msgId: request.msgId, ending: false });
    return setInterval(() => void this.reply(queue, beat).catch(() => undefined), (Math.floor(timeout) / 2) * 1000);
  }

  private async reply(queue: string, body: Buffer, deadline = Date.now() + MISSING_REPLY_QUEUE_RETRY_MS): Promise<void> {
    const publisher = this.publisher;
    if (!publisher) {
      this.logger.warn(`reply to ${queue} lost: not connected`);
      return;
    }
    const messageId = randomUUID();
    this.returned.set(messageId, { queue, body, deadline });
    try {
      await new Promise<void>((resolve, reject) =>
        publisher.publish(
          '',
          queue,
          body,
          { contentType: 'application/json', contentEncoding: 'utf-8', deliveryMode: 2, mandatory: true, messageId },
          (error) => (error ? reject(error) : resolve()),
        ),
      );
    } finally {
      // the broker returns an unroutable message before it confirms it: by now onReturned has seen it
      this.returned.delete(messageId);
    }
  }

  /** The reply queue is missing (the client is reconnecting): retry every 0.25 s for a minute, as oslo does. */
  private onReturned(message: ConsumeMessage): void {
    const id = message.properties.messageId as string | undefined;
    const pending = id ? this.returned.get(id) : undefined;
    if (!id || !pending) return;
    this.returned.delete(id);
    if (Date.now() > pending.deadline || this.stopping) {
      this.logger.warn(`reply to ${pending.queue} abandoned: the queue does not exist`);
      return;
    }
    setTimeout(() => void this.reply(pending.queue, pending.body, pending.deadline).catch(() => undefined), 250);
  }
}
