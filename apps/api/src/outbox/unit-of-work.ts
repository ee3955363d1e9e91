import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { Catalog } from '@island/catalog';
import { agentSupports, ContractDefinition, contractKey, featuresUsedBy, parsePayload } from '@island/contracts';
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
    if (contract.consumer === 'node-agent') await this.requireAgentAccepts(contract, valid);
    await this.catalog.outbox.append({ routingKey: contract.routingKey(valid), contract: contract.name, version: contract.version, payload: valid });
    this.wroteMessages = true;
  }

  /**
   * A job that uses what only later agents accept goes only to a host whose agent reported such a version (callers
   * check `agentSupports` and send an older form otherwise): sent anyway, the agent would refuse it. A caller that
   * forgot the check fails here, before anything is written, instead of on the host.
   */
  private async requireAgentAccepts(contract: ContractDefinition, payload: object): Promise<void> {
    const features = featuresUsedBy(contract, payload);
    if (features.length === 0) return;
    const hostName = (payload as { host?: string }).host ?? '';
    const host = await this.catalog.hosts.byName(hostName);
    const refused = features.filter((feature) => !agentSupports(host?.agentVersion, feature));
    if (refused.length > 0) {
      throw new Error(
        `${contractKey(contract)} for host ${hostName} uses ${refused.join(', ')}, which its agent (version ${host?.agentVersion ?? 'not reported'}) does not accept`,
      );
    }
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
