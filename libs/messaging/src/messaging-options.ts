import { ContractDefinition, ServiceName } from '@island/contracts';

export interface MessagingOptions {
  service: ServiceName;
  /** Required by host-scoped services (node-agent, snapshot-worker). */
  host?: string;
  url: string;
  /** Unacknowledged deliveries per consumer (a queue may set its own: QueueSpec.prefetch). */
  prefetch: number;
  /** Prefixes every exchange and queue name: isolates tests from a running island. */
  namespace?: string;
  /** Delay before each retry of a failed handler; its length is the number of retries before dead-lettering. */
  retryDelaysMs?: number[];
  /** On shutdown, how long handlers in flight may take to finish before the connection closes. Default 10 s. */
  shutdownGraceMs?: number;
  /** The contracts this service consumes; by default the registry's list for its service name. */
  contracts?: ContractDefinition[];
}

export const DEFAULT_RETRY_DELAYS_MS = [1_000, 5_000, 30_000, 120_000, 300_000];

export const MESSAGING_OPTIONS = Symbol('MESSAGING_OPTIONS');
