import { IslandStack } from '@island/stack';

/** Seconds spent in message handlers so far, keyed `<process> <contract>` (e.g. `agent snapshot.take.v1`). */
export type HandlerSeconds = Map<string, number>;

const SUM = 'island_message_handler_seconds_sum{';

/** The API's, the agent's and every worker's time in their message handlers so far, from their /metrics. */
export async function handlerSeconds(island: IslandStack): Promise<HandlerSeconds> {
  const names = ['api', 'agent', ...island.ports.workers.map((_, i) => `worker-${i + 1}`)];
  const seconds: HandlerSeconds = new Map();
  for (const name of names) {
    const port = island.metricsPort(name);
    if (port === undefined) continue;
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    for (const line of text.split('\n')) {
      if (!line.startsWith(SUM)) continue;
      const contract = /contract="([^"]+)"/.exec(line)?.[1];
      if (contract) seconds.set(`${name} ${contract}`, Number(line.slice(line.lastIndexOf(' ') + 1)));
    }
  }
  return seconds;
}

/** What each process spent in each contract's handlers between two readings, in ms (handlers that ran only). */
export function handlerMsBetween(before: HandlerSeconds, after: HandlerSeconds): Map<string, number> {
  const ms = new Map<string, number>();
  for (const [key, total] of after) {
    const spent = (total - (before.get(key) ?? 0)) * 1000;
    if (spent > 0) ms.set(key, spent);
  }
  return ms;
}
