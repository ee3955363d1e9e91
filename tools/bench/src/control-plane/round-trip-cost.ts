import { Client } from 'pg';
import { processCpuSeconds } from '../cpu';

const STATEMENTS = 500;

/** CPU seconds one trivial parameterized statement costs the node-postgres client and its backend, and its wall clock. */
export interface RoundTripCost {
  client: number;
  backend: number;
  seconds: number;
}

/**
 * The fixed cost of a catalog round trip on this machine right now: STATEMENTS × `SELECT $1::int` on one connection
 * (the extended protocol, as TypeORM sends parameterized statements). What a statement costs beyond this is its own work.
 */
export async function measureRoundTripCost(databaseUrl: string): Promise<RoundTripCost> {
  const db = new Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    const backend = (await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;
    const backendBefore = processCpuSeconds(backend);
    const clientBefore = process.cpuUsage();
    const started = performance.now();
    for (let i = 0; i < STATEMENTS; i++) await db.query('SELECT $1::int AS n', [i]);
    const seconds = (performance.now() - started) / 1000;
    const client = process.cpuUsage(clientBefore);
    return {
      client: (client.user + client.system) / 1e6 / STATEMENTS,
      backend: (processCpuSeconds(backend) - backendBefore) / STATEMENTS,
      seconds: seconds / STATEMENTS,
    };
  } finally {
    await db.end();
  }
}
