import { EntityManager } from 'typeorm';
import { sqlRows } from '../ledger/sql-rows';

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
    await this.m.query(`INSERT INTO outbox (routing_key, contract, version, payload) VALUES ($1, $2, $3, $4)`, [
      message.routingKey,
      message.contract,
      message.version,
      JSON.stringify(message.payload),
    ]);
  }

  /** The oldest messages no other relay holds, locked until the transaction ends. */
  async takeOldest(limit: number): Promise<OutboxMessage[]> {
    const rows = await sqlRows<{ id: string; routing_key: string; contract: string; version: number; payload: object }>(
      this.m,
      `SELECT id, routing_key, contract, version, payload FROM outbox ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`,
      [limit],
    );
    return rows.map((r) => ({ id: r.id, routingKey: r.routing_key, contract: r.contract, version: r.version, payload: r.payload }));
  }

  async remove(ids: readonly string[]): Promise<void> {
    if (ids.length > 0) await this.m.query(`DELETE FROM outbox WHERE id = ANY($1::bigint[])`, [ids]);
  }
}
