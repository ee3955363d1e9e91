import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { OutboxRepository } from '@island/catalog';
import { MetricsService } from '@island/platform';

/** Publishes one already-validated outbox message and resolves when the broker confirmed it. */
export abstract class OutboxPublisher {
  abstract publishRaw(routingKey: string, contract: string, version: number, payload: object): Promise<void>;
}

const BATCH = 200;
const POLL_MS = 500;

/**
 * Moves outbox rows to RabbitMQ: locks a batch (SKIP LOCKED, so API replicas share the work), publishes
 * each with a broker confirm, and deletes the batch in the same transaction. A crash between publish and
 * commit publishes again: consumers are idempotent, messages are never lost.
 */
@Injectable()
export class OutboxRelay implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(OutboxRelay.name);
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private polling: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly publisher: OutboxPublisher,
    private readonly metrics: MetricsService,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => this.poll(), POLL_MS);
    this.kick();
  }

  /**
   * The timer's pass, for messages no kick announced (another replica's, or left by a failed publish): one statement
   * outside a transaction asks whether any wait, as the outbox is nearly always empty; a relay already running
   * drains them anyway.
   */
  private poll(): void {
    if (this.stopped || this.running || this.polling) return;
    this.polling = new OutboxRepository(this.dataSource.manager)
      .hasMessages()
      .then(
        (waiting) => {
          if (waiting) this.kick();
        },
        (error: unknown) => this.warn(error),
      )
      .finally(() => (this.polling = undefined));
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.polling;
    await this.running;
  }

  /** Relay soon (after a commit that wrote messages, or a poll that found some); coalesces calls made while a relay runs. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.drain()
      .then(() => undefined)
      .catch((error: unknown) => this.warn(error))
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  /** Relays until the outbox is empty; returns the number of messages published. */
  async drain(): Promise<number> {
    let total = 0;
    for (;;) {
      const sent = await this.relayBatch();
      total += sent;
      if (sent < BATCH) return total;
    }
  }

  private async relayBatch(): Promise<number> {
    return this.dataSource.transaction(async (m) => {
      const outbox = new OutboxRepository(m);
      const messages = await outbox.takeOldest(BATCH);
      // one channel keeps publish order; confirms are awaited together
      await Promise.all(messages.map((r) => this.publisher.publishRaw(r.routingKey, r.contract, r.version, r.payload)));
      if (messages.length > 0) {
        await outbox.remove(messages.map((r) => r.id));
        this.metrics.counter('island_outbox_relayed_total', 'Outbox messages published to RabbitMQ').inc(messages.length);
      }
      return messages.length;
    });
  }

  /** A failed pass is logged and left to the next: the outbox keeps every message until one is published. */
  private warn(error: unknown): void {
    this.logger.warn(`outbox relay: ${error instanceof Error ? error.message : String(error)}`);
  }
}
