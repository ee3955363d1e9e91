import { ChildProcess, fork } from 'node:child_process';

/** A helper server the benchmark runs as a process of its own, so its CPU is counted apart from what it measures. */
export interface ChildServer<C> {
  port: number;
  pid: number;
  /** The counters the server kept so far. */
  counts(): Promise<C>;
  stop(): Promise<void>;
}

/** Forks `script` (a built .js beside this one), waits for the port it listens on, and asks it for counts over IPC. */
export async function startChildServer<C>(script: string, args: string[]): Promise<ChildServer<C>> {
  const child: ChildProcess = fork(script, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`${script} exited (${code}) before listening`)));
    child.once('message', (m: { port?: number }) => (m.port ? resolve(m.port) : reject(new Error(`${script} said ${JSON.stringify(m)}`))));
  });
  child.removeAllListeners('exit');
  return {
    port,
    pid: child.pid as number,
    counts: () =>
      new Promise<C>((resolve) => {
        child.once('message', (m: { counts: C }) => resolve(m.counts));
        child.send({ ask: 'counts' });
      }),
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** The child's side: tells the parent its port, then answers every request for counts. */
export function serveCounts(port: number, counts: () => unknown): void {
  process.on('message', () => process.send?.({ counts: counts() }));
  process.send?.({ port });
}
