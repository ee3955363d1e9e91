import { CliError } from '../cli-error';
import { ProgressBar } from './progress-bar';

export type WaitState = { state: 'running'; percent: number; label: string } | { state: 'done' } | { state: 'failed'; reason: string };

const POLL_MS = 400;

/**
 * Polls a resource until its operation ends, drawing a progress bar on a terminal; resolves with the
 * final resource, or throws the operation's failure reason.
 */
export async function waitFor<R>(load: () => Promise<R>, stateOf: (r: R) => WaitState, what: string): Promise<R> {
  const bar = new ProgressBar(what);
  try {
    for (;;) {
      const resource = await load();
      const state = stateOf(resource);
      if (state.state === 'done') {
        bar.finish();
        return resource;
      }
      if (state.state === 'failed') {
        bar.finish();
        throw new CliError(`${what} failed: ${state.reason}`);
      }
      bar.update(state.percent, state.label);
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  } finally {
    bar.finish();
  }
}
