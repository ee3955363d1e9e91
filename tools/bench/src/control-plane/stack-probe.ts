import { existsSync } from 'node:fs';
import { Client } from 'pg';
import { IslandStack } from '@island/stack';
import { ChildServer } from '../child-servers/child-server';
import { MessageCounts } from '../catalog-counter/frontend-messages';
import { processCpuSeconds } from '../cpu';
import { SinkCounts } from '../sink/sink-objects';
import { counterTotal } from './island-metrics';
import { brokerPid, machineBusySeconds } from './machine-cpu';

/** Everything a phase is judged by, read at its start and at its end. */
export interface Reading {
  at: number;
  /** CPU seconds so far, by pid, of each component's processes. */
  cpu: Record<Component, Map<number, number>>;
  machine: number;
  messagesPublished: number;
  statements: MessageCounts;
  transactions: number;
  /** Rows inserted, updated and deleted so far, by table. */
  rowsWritten: Record<string, number>;
  sink: SinkCounts;
}

/** The island processes, the shared services (only this stack's catalog backends) and the bench's own helpers. */
export type Component = 'api' | 'agent' | 'workers' | 'gc' | 'catalog' | 'broker' | 'sink' | 'proxy' | 'bench';

/** What one phase cost: wall clock, CPU by component and on the whole machine, and what was asked of the catalog and broker. */
export interface PhaseUsage {
  seconds: number;
  cpu: Record<Component, number>;
  /** Busy CPU of the machine not accounted to any component: other work sharing it (another catalog bench, tests). */
  otherCpu: number;
  messagesPublished: number;
  /** Statements executed: simple queries plus extended-protocol executes. */
  statements: number;
  /** Client round trips: simple queries plus syncs. */
  roundTrips: number;
  transactions: number;
  rowsWritten: Record<string, number>;
  sinkRequests: Record<string, number>;
}

/**
 * Reads a stack's counters: CPU from /proc for its processes, its database's backends (pg_stat_activity) and the broker;
 * published messages from every process's /metrics; statements from the counting proxy; commits from pg_stat_database.
 */
export class StackProbe {
  private constructor(
    private readonly island: IslandStack,
    private readonly processNames: string[],
    private readonly sink: ChildServer<SinkCounts>,
    private readonly proxy: ChildServer<MessageCounts>,
    private readonly db: Client,
  ) {}

  static async open(island: IslandStack, workers: number, sink: ChildServer<SinkCounts>, proxy: ChildServer<MessageCounts>): Promise<StackProbe> {
    const db = new Client({ connectionString: island.databaseUrl });
    await db.connect();
    const names = ['api', 'agent', 'gc', ...Array.from({ length: workers }, (_, w) => `worker-${w + 1}`)];
    return new StackProbe(island, names, sink, proxy, db);
  }

  async close(): Promise<void> {
    await this.db.end();
  }

  /**
   * At a phase's start: the catalog statistics first (PostgreSQL's backends report them at most every second, so
   * after a pause), then CPU and the clock, so the phase starts right after. At its end: CPU and the clock first.
   */
  async read(when: 'start' | 'end'): Promise<Reading> {
    const timing = when === 'end' ? await this.timingNow() : undefined;
    await new Promise((r) => setTimeout(r, 1_500));
    const { rows } = await this.db.query<{ n: string }>(
      `SELECT (xact_commit + xact_rollback)::text AS n FROM pg_stat_database WHERE datname = current_database()`,
    );
    const tables = await this.db.query<{ relname: string; n: string }>(
      `SELECT relname, (n_tup_ins + n_tup_upd + n_tup_del)::text AS n FROM pg_stat_user_tables`,
    );
    const ports = [this.island.ports.api, this.island.ports.agent, this.island.ports.gc, ...this.island.ports.workers];
    const counted = {
      messagesPublished: await counterTotal(ports, 'island_messages_published_total'),
      statements: await this.proxy.counts(),
      transactions: Number(rows[0].n),
      rowsWritten: Object.fromEntries(tables.rows.map((t) => [t.relname, Number(t.n)])),
      sink: await this.sink.counts(),
    };
    return { ...counted, ...(timing ?? (await this.timingNow())) };
  }

  private async timingNow(): Promise<Pick<Reading, 'at' | 'cpu' | 'machine'>> {
    const machine = machineBusySeconds();
    const cpu = await this.cpuNow();
    return { at: performance.now(), cpu, machine };
  }

  private async cpuNow(): Promise<Record<Component, Map<number, number>>> {
    const of = (pids: number[]) => new Map(pids.filter((p) => existsSync(`/proc/${p}`)).map((p) => [p, processCpuSeconds(p)]));
    const pid = (name: string) => this.island.pid(name);
    const workers = this.processNames.filter((n) => n.startsWith('worker-')).map(pid);
    const { rows } = await this.db.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`);
    const own = process.cpuUsage();
    return {
      api: of([pid('api')]),
      agent: of([pid('agent')]),
      workers: of(workers),
      gc: of([pid('gc')]),
      catalog: of(rows.map((r) => r.pid)),
      broker: of([brokerPid()]),
      sink: of([this.sink.pid]),
      proxy: of([this.proxy.pid]),
      bench: new Map([[process.pid, (own.user + own.system) / 1e6]]),
    };
  }
}

/** The difference of two readings: a pid seen only at the end started during the phase and counts whole. */
export function usageBetween(before: Reading, after: Reading): PhaseUsage {
  const components = Object.keys(after.cpu) as Component[];
  const cpu = Object.fromEntries(
    components.map((c) => {
      let used = 0;
      for (const [p, seconds] of after.cpu[c]) used += seconds - (before.cpu[c].get(p) ?? 0);
      return [c, used];
    }),
  ) as Record<Component, number>;
  const accounted = Object.values(cpu).reduce((a, b) => a + b, 0);
  const sent = (type: string) => (after.statements[type] ?? 0) - (before.statements[type] ?? 0);
  const requests = Object.fromEntries(
    Object.entries(after.sink.requests)
      .map(([k, n]) => [k, n - (before.sink.requests[k] ?? 0)])
      .filter(([, n]) => Number(n) > 0),
  ) as Record<string, number>;
  return {
    seconds: (after.at - before.at) / 1000,
    cpu,
    otherCpu: Math.max(0, after.machine - before.machine - accounted),
    messagesPublished: after.messagesPublished - before.messagesPublished,
    statements: sent('Q') + sent('E'),
    roundTrips: sent('Q') + sent('S'),
    transactions: after.transactions - before.transactions,
    rowsWritten: Object.fromEntries(
      Object.entries(after.rowsWritten)
        .map(([t, n]) => [t, n - (before.rowsWritten[t] ?? 0)])
        .filter(([, n]) => Number(n) > 0),
    ) as Record<string, number>,
    sinkRequests: requests,
  };
}
