import { IslandStack } from '@island/stack';
import { metricSamples } from './metric-samples';

/** Handler time so far, keyed `<process> <contract>` (e.g. `agent snapshot.take.v1`): seconds, and messages handled. */
export type HandlerSeconds = Map<string, { seconds: number; handled: number }>;

/** What one process spent on one contract's messages between two readings. */
export interface HandlerSpent {
  ms: number;
  handled: number;
}

// prom-client writes `contract` as the histogram's one label; contract names hold no quote to escape
const CONTRACT = /^contract="([^"]+)"$/;

/** The API's, the agent's and every worker's time in their message handlers so far, from their /metrics. */
export async function handlerSeconds(island: IslandStack): Promise<HandlerSeconds> {
  const names = ['api', 'agent', ...island.ports.workers.map((_, i) => `worker-${i + 1}`)];
  const seconds: HandlerSeconds = new Map();
  for (const name of names) {
    const port = island.metricsPort(name);
    if (port === undefined) continue;
    for (const sample of await metricSamples(port)) {
      const contract = CONTRACT.exec(sample.labels)?.[1];
      if (contract === undefined) continue;
      const key = `${name} ${contract}`;
      const reading = seconds.get(key) ?? { seconds: 0, handled: 0 };
      if (sample.name === 'island_message_handler_seconds_sum') reading.seconds = sample.value;
      else if (sample.name === 'island_message_handler_seconds_count') reading.handled = sample.value;
      else continue;
      seconds.set(key, reading);
    }
  }
  return seconds;
}

/** What each process spent in each contract's handlers between two readings (handlers that ran only). */
export function handlerSpentBetween(before: HandlerSeconds, after: HandlerSeconds): Map<string, HandlerSpent> {
  const spent = new Map<string, HandlerSpent>();
  for (const [key, now] of after) {
    const then = before.get(key) ?? { seconds: 0, handled: 0 };
    if (now.handled < then.handled) throw new Error(`${key}: fewer messages handled than at the reading before (a process restarted?)`);
    if (now.handled > then.handled) spent.set(key, { ms: (now.seconds - then.seconds) * 1000, handled: now.handled - then.handled });
  }
  return spent;
}
