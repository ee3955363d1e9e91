import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { sqlRows } from '@island/catalog';
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
  private again = false;
  private stopped = false;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly publisher: OutboxPublisher,
    private readonly metrics: MetricsService,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => this.kick(), POLL_MS);
    this.kick();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
  }

  /** Relay soon (after a commit that wrote messages); coalesces calls made while a relay runs. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.drain()
      .then(() => undefined)
      .catch((error: unknown) => this.logger.warn(`outbox relay: ${error instanceof Error ? error.message : String(error)}`))
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
      const rows = await sqlRows<{ id: string; routing_key: string; contract: string; version: number; payload: object }>(
        m,
        `SELECT id, routing_key, contract, version, payload FROM outbox ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`,
        [BATCH],
      );
      // one channel keeps publish order; confirms are awaited together
      await Promise.all(rows.map((r) => this.publisher.publishRaw(r.routing_key, r.contract, r.version, r.payload)));
      if (rows.length > 0) {
        await m.query(`DELETE FROM outbox WHERE id = ANY($1::bigint[])`, [rows.map((r) => r.id)]);
        this.metrics.counter('island_outbox_relayed_total', 'Outbox messages published to RabbitMQ').inc(rows.length);
      }
      return rows.length;
    });
  }
}
