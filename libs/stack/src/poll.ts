import { IslandStack } from './island-stack';

type Json = Record<string, unknown>;

export interface PollOptions<T> {
  /** Named in the error when the resource fails or the wait times out (default: the path). */
  what?: string;
  /** Stop waiting, with an error, once this holds (default: status `error` or `failed`). */
  failed?: (body: T) => boolean;
  timeoutMs?: number;
  /** Poll at this fixed interval instead (e.g. the CLI's, where a bench counts the API's CPU as a user's wait costs it). */
  intervalMs?: number;
}

/**
 * GETs `path` until `done(body)`. The interval grows with the time waited (20 ms, then 2% of the elapsed
 * time, at most 200 ms): a wait is timed within ~2%, and on a busy machine the polling does not take the CPU
 * the awaited operation needs.
 */
export async function pollUntil<T extends Json = Json>(
  island: IslandStack,
  path: string,
  done: (body: T) => boolean,
  options: PollOptions<T> = {},
): Promise<T> {
  const { what = path, failed = (body: T) => ['error', 'failed'].includes(String(body.status)), timeoutMs = 600_000, intervalMs } = options;
  const started = performance.now();
  for (;;) {
    const body = (await island.request<T>('GET', path)).body;
    if (done(body)) return body;
    const waited = performance.now() - started;
    if (failed(body) || waited > timeoutMs) throw new Error(`${what}: ${JSON.stringify(body)}${lastLogLines(island)}`);
    await new Promise((r) => setTimeout(r, intervalMs ?? Math.min(200, Math.max(20, waited / 50))));
  }
}

/** The stack's last log output (warnings and errors unless ISLAND_STACK_LOG_LEVEL says more), for a failure to say what went on under it. */
function lastLogLines(island: IslandStack, lines = 40): string {
  const tail = island.logs().trimEnd().split('\n').slice(-lines).join('\n');
  return tail ? `\nthe stack's last ${lines} log lines:\n${tail}` : '';
}
