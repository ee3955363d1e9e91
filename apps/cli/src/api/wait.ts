import { ApiUnavailableError, CliError } from '../cli-error';
import { ProgressBar } from './progress-bar';

export type WaitState = { state: 'running'; percent: number; label: string } | { state: 'done' } | { state: 'failed'; reason: string };

/** How often a long wait asks; a short one asks sooner (pollDelay), so an operation of a few hundred ms is seen when it ends. */
const POLL_MS = 400;
const FIRST_POLL_MS = 50;
/** A wait says what it is waiting for when nothing has changed for this long. */
const SLOW_MS = 15_000;
/** How long a wait rides out an API it cannot reach (a restart, a failover) before giving up. */
const UNAVAILABLE_LIMIT_MS =
  (/^\d+$/.test(process.env.ISLAND_WAIT_UNAVAILABLE_SECONDS ?? '') ? Number(process.env.ISLAND_WAIT_UNAVAILABLE_SECONDS) : 300) * 1000;

/**
 * How long to wait before asking again, `waitedMs` into a wait: 50 ms at first, then a quarter of the time waited, at most
 * 400 ms. A wait then overshoots the operation's end by at most a quarter of its length (and 400 ms), while a long one
 * asks no more often than every 400 ms.
 */
export function pollDelay(waitedMs: number): number {
  return Math.min(POLL_MS, Math.max(FIRST_POLL_MS, Math.round(waitedMs / 4)));
}

/**
 * Polls a resource until its operation ends, drawing a progress bar on a terminal; resolves with the
 * final resource, or throws the operation's failure reason. An API that cannot be reached for a while (it
 * restarts) is asked again, up to ISLAND_WAIT_UNAVAILABLE_SECONDS (default 300); a wait that makes no
 * progress says on stderr what it is waiting for.
 */
export async function waitFor<R>(load: () => Promise<R>, stateOf: (r: R) => WaitState, what: string, now = Date.now): Promise<R> {
  const bar = new ProgressBar(what);
  const started = now();
  let unavailableSince: number | undefined;
  let lastChange = now();
  let lastLabel = '';
  let toldAt = 0;
  try {
    for (;;) {
      let resource: R;
      try {
        resource = await load();
      } catch (error) {
        if (!(error instanceof ApiUnavailableError)) throw error;
        unavailableSince ??= now();
        const waited = now() - unavailableSince;
        if (waited > UNAVAILABLE_LIMIT_MS) throw new CliError(`gave up waiting for ${what}: ${error.message} for ${Math.round(waited / 1000)} s`);
        if (now() - toldAt > SLOW_MS) {
          bar.finish();
          process.stderr.write(`island: ${error.message}; still waiting for ${what} (for up to ${UNAVAILABLE_LIMIT_MS / 1000} s)\n`);
          toldAt = now();
        }
        await new Promise((r) => setTimeout(r, Math.min(5000, POLL_MS * 4)));
        continue;
      }
      if (unavailableSince !== undefined) {
        process.stderr.write(`island: the API answers again; waiting for ${what}\n`);
        unavailableSince = undefined;
      }
      const state = stateOf(resource);
      if (state.state === 'done') {
        bar.finish();
        return resource;
      }
      if (state.state === 'failed') {
        bar.finish();
        throw new CliError(`${what} failed: ${state.reason}`);
      }
      const label = `${Math.floor(state.percent)}% ${state.label}`;
      if (label !== lastLabel) {
        lastLabel = label;
        lastChange = now();
      } else if (now() - lastChange > SLOW_MS && now() - toldAt > SLOW_MS) {
        bar.finish();
        process.stderr.write(`island: still waiting for ${what}: ${label} for ${Math.round((now() - lastChange) / 1000)} s\n`);
        toldAt = now();
      }
      bar.update(state.percent, state.label);
      await new Promise((r) => setTimeout(r, pollDelay(now() - started)));
    }
  } finally {
    bar.finish();
  }
}
