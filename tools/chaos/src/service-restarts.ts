import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The machine's own services, restarted under island's feet: every connection to them drops. */
export const SERVICE_RESTARTS = {
  /** RabbitMQ's application stopped and started again in its node: connections drop, durable queues come back from disk. */
  async rabbitmq(downMs: number): Promise<void> {
    await run('rabbitmqctl', ['stop_app'], { timeout: 60_000 });
    await new Promise((r) => setTimeout(r, downMs));
    await run('rabbitmqctl', ['start_app'], { timeout: 120_000 });
  },
  /** PostgreSQL stopped (fast: sessions are cut, transactions in flight roll back) and started again. */
  async postgres(downMs: number): Promise<void> {
    const version = readdirSync('/etc/postgresql')[0];
    await run('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'stop', '-m', 'fast'], { timeout: 60_000 });
    await new Promise((r) => setTimeout(r, downMs));
    await run('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'start'], { timeout: 60_000 });
  },
} as const;
export type RestartedService = keyof typeof SERVICE_RESTARTS;
