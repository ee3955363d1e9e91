import { ServiceName } from './contract';

/**
 * Where messages go. Every contract's routing key starts with its consumer's scope, so the queue bindings
 * below are the whole routing table:
 *   event.<name>.v<n>            → island.api              (API replicas compete)
 *   agent.<host>.<name>.v<n>     → island.agent.<host>     (the one agent of that host)
 *   worker.<host>.<name>.v<n>    → island.worker.<host>    (that host's workers compete: they read its disk)
 *   worker.any.<name>.v<n>       → island.worker           (every worker competes: no local data needed)
 *   read.<name>.v<n>             → island.worker.read      (every worker competes: reads a caller waits for, with
 *                                                            their own prefetch so they never queue behind jobs)
 *   gc.<name>.v<n>               → island.gc               (GC replicas compete)
 */
export const EXCHANGE = 'island';

export interface QueueSpec {
  name: string;
  bindings: string[];
  /** Consumed with this many messages in flight (default: the service's prefetch); RabbitMQ counts it per consumer. */
  prefetch?: number;
}

/** Block reads a worker serves at once: each holds a block (≤ 4 MiB) and waits mostly on Swift. */
export const WORKER_READ_PREFETCH = 16;

export const routes = {
  event: (name: string, version: number) => `event.${name}.v${version}`,
  agent: (host: string, name: string, version: number) => `agent.${host}.${name}.v${version}`,
  hostWorker: (host: string, name: string, version: number) => `worker.${host}.${name}.v${version}`,
  anyWorker: (name: string, version: number) => `worker.any.${name}.v${version}`,
  read: (name: string, version: number) => `read.${name}.v${version}`,
  gc: (name: string, version: number) => `gc.${name}.v${version}`,
};

/** The queues a service consumes; host-scoped services need their host name. */
export function queuesFor(service: ServiceName, host?: string): QueueSpec[] {
  const needHost = (): string => {
    if (!host) throw new Error(`${service} consumes host-scoped queues: a host name is required`);
    return host;
  };
  switch (service) {
    case 'api':
      return [{ name: 'island.api', bindings: ['event.#'] }];
    case 'node-agent':
      return [{ name: `island.agent.${needHost()}`, bindings: [`agent.${needHost()}.#`] }];
    case 'snapshot-worker':
      return [
        { name: `island.worker.${needHost()}`, bindings: [`worker.${needHost()}.#`] },
        { name: 'island.worker', bindings: ['worker.any.#'] },
        { name: 'island.worker.read', bindings: ['read.#'], prefetch: WORKER_READ_PREFETCH },
      ];
    case 'gc-worker':
      return [{ name: 'island.gc', bindings: ['gc.#'] }];
  }
}
