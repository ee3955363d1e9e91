import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The PostgreSQL cluster island uses here: the one listening on 5432 (`pg_lsclusters`: version, name, port, …). */
async function postgresCluster(): Promise<[string, string]> {
  const { stdout } = await run('pg_lsclusters', ['--no-header']);
  const line = stdout.split('\n').find((l) => l.trim().split(/\s+/)[2] === '5432');
  if (!line) throw new Error(`no PostgreSQL cluster on port 5432 in pg_lsclusters:\n${stdout}`);
  const [version, name] = line.trim().split(/\s+/);
  return [version, name];
}

/**
 * The machine's own services, restarted under island's feet: every connection to them drops. The start runs
 * whatever happened to the stop or the wait, so a failing restart never leaves a service down.
 */
export const SERVICE_RESTARTS = {
  /** RabbitMQ's application stopped and started again in its node: connections drop, durable queues come back from disk. */
  async rabbitmq(downMs: number): Promise<void> {
    try {
      await run('rabbitmqctl', ['stop_app'], { timeout: 60_000 });
      await new Promise((r) => setTimeout(r, downMs));
    } finally {
      await run('rabbitmqctl', ['start_app'], { timeout: 120_000 });
    }
  },
  /** PostgreSQL stopped (fast: sessions are cut, transactions in flight roll back) and started again. */
  async postgres(downMs: number): Promise<void> {
    const [version, name] = await postgresCluster();
    const ctl = (action: string, ...extra: string[]) =>
      run('pg_ctlcluster', ['--skip-systemctl-redirect', version, name, action, ...extra], { timeout: 60_000 });
    try {
      await ctl('stop', '-m', 'fast');
      await new Promise((r) => setTimeout(r, downMs));
    } finally {
      await ctl('start');
    }
  },
} as const;
export type RestartedService = keyof typeof SERVICE_RESTARTS;
