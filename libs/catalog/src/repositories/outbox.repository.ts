import { EntityManager } from 'typeorm';
import { preparedRows } from '../ledger/sql-rows';

/** A message written with the state change that implies it, waiting to be published. */
export interface OutboxMessage {
  id: string;
  routingKey: string;
  contract: string;
  version: number;
  payload: object;
}

/** The outbox: messages commit with the catalog change that implies them; the relay publishes them after. */
export class OutboxRepository {
  constructor(private readonly m: EntityManager) {}

  async append(message: Omit<OutboxMessage, 'id'>): Promise<void> {
    await preparedRows(this.m, 'island_outbox_append_v1', `INSERT INTO outbox (routing_key, contract, version, payload) VALUES ($1, $2, $3, $4)`, [
      message.routingKey,
      message.contract,
      message.version,
      JSON.stringify(message.payload),
    ]);
  }

  /** Whether any message waits, whoever holds it: one round trip, no transaction (the relay's timer nearly always finds none). */
  async hasMessages(): Promise<boolean> {
    const [row] = await preparedRows<{ waiting: boolean }>(this.m, 'island_outbox_waiting_v1', `SELECT EXISTS (SELECT 1 FROM outbox) AS waiting`, []);
    return row.waiting;
  }

  /** The oldest messages no other relay holds, locked until the transaction ends. */
  async takeOldest(limit: number): Promise<OutboxMessage[]> {
    const rows = await preparedRows<{ id: string; routing_key: string; contract: string; version: number; payload: object }>(
      this.m,
      'island_outbox_oldest_v1',
      `SELECT id, routing_key, contract, version, payload FROM outbox ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`,
      [limit],
    );
    return rows.map((r) => ({ id: r.id, routingKey: r.routing_key, contract: r.contract, version: r.version, payload: r.payload }));
  }

  async remove(ids: readonly string[]): Promise<void> {
    if (ids.length > 0) await preparedRows(this.m, 'island_outbox_remove_v1', `DELETE FROM outbox WHERE id = ANY($1::bigint[])`, [ids]);
  }
}
