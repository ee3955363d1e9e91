import { EXCHANGE, QueueSpec } from '@island/contracts';

/** Exchange and queue names, optionally under a namespace (tests run beside a live island). */
export class BrokerNames {
  constructor(private readonly namespace?: string) {}

  private ns(name: string): string {
    return this.namespace ? `${this.namespace}.${name}` : name;
  }

  get exchange(): string {
    return this.ns(EXCHANGE);
  }

  /** Fanout exchange and its queue holding every message that failed for good, with the reason. */
  get deadExchange(): string {
    return this.ns(`${EXCHANGE}.dead`);
  }

  get deadQueue(): string {
    return this.ns(`${EXCHANGE}.dead`);
  }

  queue(spec: QueueSpec): string {
    return this.ns(spec.name);
  }

  /** A holding queue per consumed queue and delay: messages wait there, then expire back into the queue. */
  retryQueue(queue: string, delayMs: number): string {
    return `${queue}.retry.${delayMs}ms`;
  }
}

/** Headers island sets on every message. */
export const HEADERS = {
  contract: 'x-island-contract',
  version: 'x-island-version',
  attempt: 'x-island-attempt',
  reason: 'x-island-dead-reason',
  queue: 'x-island-dead-queue',
  failedAt: 'x-island-dead-at',
} as const;
