import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, renameSync, statSync } from 'node:fs';

/** A log past this size is moved aside (to `<log>.1`) when the next process starts. */
const LOG_ROTATE_BYTES = 16 << 20;
const READY_TIMEOUT_MS = 15_000;
const READY_POLL_MS = 20;

/** The last lines of a log, for an error message. */
function logTail(logFile: string, lines = 15): string {
  try {
    return readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/**
 * Starts a program in its own session that outlives this process, its stdout and stderr appended to `logFile`,
 * and resolves once `ready()` holds. Rejects, with the log's tail, when it exits first or is not ready in time.
 */
export async function startDetached(program: string, args: string[], logFile: string, ready: () => boolean): Promise<void> {
  if (existsSync(logFile) && statSync(logFile).size > LOG_ROTATE_BYTES) renameSync(logFile, `${logFile}.1`);
  const log = openSync(logFile, 'a');
  let exited: string | undefined;
  try {
    const child = spawn(program, args, { detached: true, stdio: ['ignore', log, log] });
    child.once('error', (error) => (exited = error.message));
    child.once('exit', (code, signal) => (exited = signal ? `killed by ${signal}` : `exit code ${String(code)}`));
    child.unref();
  } finally {
    closeSync(log);
  }
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (exited === undefined && ready()) return;
    if (exited !== undefined || Date.now() > deadline) {
      const why = exited ?? `not ready after ${READY_TIMEOUT_MS / 1000} s`;
      const tail = logTail(logFile);
      throw new Error(`${program} did not start (${why})${tail ? `; ${logFile} ends with:\n${tail}` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS));
  }
}
