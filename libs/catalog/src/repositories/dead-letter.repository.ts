import { EntityManager } from 'typeorm';
import { sqlRows } from '../ledger/sql-rows';

/** A message that failed for good: where it was going, why it failed, what it carried. */
export interface DeadLetter {
  id: string;
  contract: string;
  version: number | null;
  routingKey: string;
  queue: string | null;
  reason: string;
  payload: unknown;
  failedAt: Date;
  retriedAt: Date | null;
}

interface DeadLetterRow {
  id: string;
  contract: string;
  version: number | null;
  routing_key: string;
  queue: string | null;
  reason: string;
  payload: unknown;
  failed_at: Date;
  retried_at: Date | null;
}

const toDeadLetter = (r: DeadLetterRow): DeadLetter => ({
  id: r.id,
  contract: r.contract,
  version: r.version,
  routingKey: r.routing_key,
  queue: r.queue,
  reason: r.reason,
  payload: r.payload,
  failedAt: r.failed_at,
  retriedAt: r.retried_at,
});

/** Dead letters: kept in the catalog, listed and re-sent by the admin. */
export class DeadLetterRepository {
  constructor(private readonly m: EntityManager) {}

  async add(d: Omit<DeadLetter, 'id' | 'retriedAt'>): Promise<void> {
    await this.m.query(`INSERT INTO dead_letter (contract, version, routing_key, queue, reason, payload, failed_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`, [
      d.contract,
      d.version,
      d.routingKey,
      d.queue,
      d.reason,
      JSON.stringify(d.payload),
      d.failedAt,
    ]);
  }

  /** The newest first; with `pending`, only those not re-sent yet. */
  async list(o: { pending?: boolean; limit?: number } = {}): Promise<DeadLetter[]> {
    const rows = await sqlRows<DeadLetterRow>(
      this.m,
      `SELECT * FROM dead_letter WHERE ($1::boolean IS NOT TRUE OR retried_at IS NULL) ORDER BY failed_at DESC, id DESC LIMIT $2`,
      [o.pending ?? false, o.limit ?? 100],
    );
    return rows.map(toDeadLetter);
  }

  /** One dead letter, locked (a re-send marks it). */
  async lock(id: string): Promise<DeadLetter | null> {
    const [row] = await sqlRows<DeadLetterRow>(this.m, `SELECT * FROM dead_letter WHERE id = $1 FOR UPDATE`, [id]);
    return row ? toDeadLetter(row) : null;
  }

  async markRetried(id: string): Promise<void> {
    await this.m.query(`UPDATE dead_letter SET retried_at = now() WHERE id = $1`, [id]);
  }
}
