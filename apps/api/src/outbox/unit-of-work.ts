import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { Catalog } from '@island/catalog';
import { ContractDefinition, parsePayload } from '@island/contracts';
import { OutboxRelay } from './outbox-relay.service';

/** Postgres errors that mean "run the same transaction again": deadlock, serialization failure. */
const RETRYABLE = new Set(['40P01', '40001']);
const ATTEMPTS = 4;

/**
 * A catalog transaction and the messages it implies: messages are written to the outbox in the same
 * transaction, so a state change and its message never diverge; the relay publishes them after commit.
 */
export class Tx {
  /** Whether this transaction wrote messages: only then is the relay woken after its commit. */
  private wroteMessages = false;

  constructor(readonly catalog: Catalog) {}

  get sentMessages(): boolean {
    return this.wroteMessages;
  }

  async send<P extends object>(contract: ContractDefinition<string, P>, payload: P): Promise<void> {
    const valid = parsePayload(contract, payload);
    await this.catalog.outbox.append({ routingKey: contract.routingKey(valid), contract: contract.name, version: contract.version, payload: valid });
    this.wroteMessages = true;
  }
}

@Injectable()
export class UnitOfWork {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly relay: OutboxRelay,
  ) {}

  async run<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        const { result, tx } = await this.dataSource.transaction(async (m) => {
          const tx = new Tx(new Catalog(m));
          return { result: await work(tx), tx };
        });
        // a transaction without messages leaves the relay nothing to do (its timer still polls for other writers)
        if (tx.sentMessages) this.relay.kick();
        return result;
      } catch (error) {
        const code = (error as { driverError?: { code?: string }; code?: string }).driverError?.code ?? (error as { code?: string }).code;
        if (attempt >= ATTEMPTS || !code || !RETRYABLE.has(code)) throw error;
        await new Promise((r) => setTimeout(r, 10 * attempt + Math.random() * 20));
      }
    }
  }

  /** Reads that must agree with each other (one REPEATABLE READ transaction: one committed state), writing nothing. */
  readConsistent<T>(work: (catalog: Catalog) => Promise<T>): Promise<T> {
    return this.dataSource.transaction('REPEATABLE READ', (m) => work(new Catalog(m)));
  }

  /** Reads outside a transaction (each statement on its own). */
  read<T>(work: (catalog: Catalog) => Promise<T>): Promise<T> {
    return work(new Catalog(this.dataSource.manager));
  }
}
