import { cpus } from 'node:os';
import { ADMIN_DATABASE_URL } from '@island/stack';
import { Benchmark, BenchmarkRow } from '../benchmark';
import { MIB } from '../cpu';
import { DataPlaneCost, measureDataPlaneCost } from '../control-plane/data-plane-cost';
import { measureRoundTripCost, RoundTripCost } from '../control-plane/round-trip-cost';
import { Component, PhaseUsage } from '../control-plane/stack-probe';
import { RunResult, runOnStack } from '../control-plane/stack-run';

const WORKER_COUNTS = [1, 2, 4];
const VOLUMES = 4;
const BLOCKS_PER_VOLUME = 512;
const GOAL_BLOCKS_PER_SECOND = 5_000;
/** A first snapshot of 1 GiB of incompressible data on this machine with real Swift (docs/benchmarks.md, snapshot-pipeline). */
const HOST_BLOCKS_PER_SECOND = 97;
/** What one control plane runs for all its hosts. */
const CENTRAL: Component[] = ['api', 'catalog', 'broker', 'gc'];

/** Per block of one phase. */
interface PerBlock {
  achieved: number;
  /** CPU seconds of the central components, less what they spend idle in as many seconds (heartbeats, polling, sweeps). */
  central: number;
  /** CPU seconds of the host's agent and workers, data plane included. */
  host: number;
  statements: number;
  transactions: number;
  messages: number;
  rows: number;
}

/**
 * How many blocks per second one control plane (API, catalog, broker) can coordinate: a stack whose object store is
 * a sink (tools/bench/src/sink), so Swift's CPU is out of the way, snapshots and restores blocks whose content is
 * distinct but almost all zeros, so the hosts' data plane is small; the central components' CPU per block gives
 * the ceiling (the machine's cores divided by it). Hosts' workers and agents run on the hosts and are reported apart.
 */
export const controlPlane: Benchmark = {
  name: 'control-plane',
  title: 'Control-plane ceiling: blocks per second coordinated with the object store replaced by a sink',
  async run(ctx) {
    const cost = await measureDataPlaneCost(ctx.workDir, 256, MIB);
    ctx.log(`data plane in process: snapshot ${ms(cost.snapshot)} ms/block, restore ${ms(cost.restore)} ms/block`);
    const roundTrips = [await measureRoundTripCost(ADMIN_DATABASE_URL)];
    const runs: RunResult[] = [];
    for (const workers of WORKER_COUNTS) {
      runs.push(await runOnStack({ workers, volumes: VOLUMES, blocksPerVolume: BLOCKS_PER_VOLUME, blockSize: MIB, sinkMaxBytes: 1024 * MIB }, ctx.log));
    }
    roundTrips.push(await measureRoundTripCost(ADMIN_DATABASE_URL));
    const cores = cpus().length;
    const rows: BenchmarkRow[] = runs.flatMap((run) =>
      phasesOf(run).map(([what, usage]) => {
        const p = perBlock(usage, run);
        const ceiling = cores / p.central;
        return {
          metric: `${what}, ${run.shape.workers} worker${run.shape.workers > 1 ? 's' : ''}: ${run.blocks} × 1 MiB blocks`,
          island: `central ${ms(p.central)} CPU-ms/block → ${ceiling.toFixed(0)} blocks/s on ${cores} cores (achieved ${p.achieved.toFixed(0)} blocks/s on the shared machine)`,
          baseline: `goal ${GOAL_BLOCKS_PER_SECOND} blocks/s`,
          ratio: ceiling / GOAL_BLOCKS_PER_SECOND,
          goal: `≥ ${GOAL_BLOCKS_PER_SECOND} blocks/s`,
          pass: ceiling >= GOAL_BLOCKS_PER_SECOND,
        };
      }),
    );
    return { rows, notes: notesFor(runs, cost, roundTrips, cores) };
  },
};

function phasesOf(run: RunResult): [string, PhaseUsage][] {
  return [
    ['first snapshots', run.firstSnapshots],
    ['next snapshots (every block changed)', run.nextSnapshots],
    ['restores into new volumes', run.restores],
  ];
}

function perBlock(u: PhaseUsage, run: RunResult): PerBlock {
  const idleRate = (c: Component) => run.idle.cpu[c] / run.idle.seconds;
  const central = CENTRAL.reduce((sum, c) => sum + Math.max(0, u.cpu[c] - idleRate(c) * u.seconds), 0);
  return {
    achieved: run.blocks / u.seconds,
    central: central / run.blocks,
    host: (u.cpu.agent + u.cpu.workers) / run.blocks,
    statements: u.statements / run.blocks,
    transactions: u.transactions / run.blocks,
    messages: u.messagesPublished / run.blocks,
    rows: Object.values(u.rowsWritten).reduce((a, b) => a + b, 0) / run.blocks,
  };
}

function ms(seconds: number): string {
  return (seconds * 1000).toFixed(3);
}

function list(record: Record<string, number>, format: (n: number) => string): string {
  return Object.entries(record)
    .map(([k, n]) => `${k} ${format(n)}`)
    .join(', ');
}

function notesFor(runs: RunResult[], cost: DataPlaneCost, roundTrips: RoundTripCost[], cores: number): string[] {
  const perPhase = runs.flatMap((run) =>
    phasesOf(run).map(([what, u]) => {
      const p = perBlock(u, run);
      return (
        `${run.shape.workers} worker(s), ${what}: ${u.seconds.toFixed(1)} s; per block ${p.statements.toFixed(2)} catalog statements, ` +
        `${p.transactions.toFixed(3)} transactions, ${p.rows.toFixed(2)} rows written (${list(u.rowsWritten, (n) => (n / run.blocks).toFixed(2))}), ` +
        `${p.messages.toFixed(3)} broker messages; host (agent + workers) ${ms(p.host)} CPU-ms/block; ` +
        `CPU s: ${list(u.cpu, (n) => n.toFixed(2))}, not ours ${u.otherCpu.toFixed(1)}; sink: ${list(u.sinkRequests, String)}.`
      );
    }),
  );
  const idle = runs.map((run) => `${run.shape.workers} worker(s): ${list(run.idle.cpu, (n) => (n / run.idle.seconds).toFixed(3))}`);
  // snapshots cost the control plane more per block than restores: they bound what it serves
  const snapshotCentral = runs.flatMap((run) => [run.firstSnapshots, run.nextSnapshots].map((u) => perBlock(u, run).central));
  const hosts = (central: number) => Math.floor(cores / central / HOST_BLOCKS_PER_SECOND);
  return [
    `Setup: one stack per worker count (API, one node agent, N snapshot workers, one GC worker) on the real PostgreSQL and RabbitMQ; RegionOne's object store is the Swift sink, a bench process of its own that answers tempauth, checks the MD5 each PUT states and If-None-Match, and keeps bodies in memory (bounded; none was refused) so the restores GET them back. ${VOLUMES} volumes of ${BLOCKS_PER_VOLUME} × 1 MiB blocks (the default block size; each volume's change is cut into parts as in production: four of 128 blocks) are snapshotted at once, written again in every block and snapshotted again, and the second snapshots restored into ${VOLUMES} new volumes attached on the host. Before anything is measured, a warm-up volume as large as a phase (${VOLUMES * BLOCKS_PER_VOLUME} blocks) is snapshotted and restored once: what a process pays once (code compiled on first use, its memory growing to its working size, the catalog's first connections, the project's first key) is not a cost per block of a control plane that runs for months. Its rows stay in the catalog, which is then analyzed as autovacuum would have done by then: otherwise the workers' prepared block claim keeps the plan it made for an empty table, a scan of the region's every block per claim, until autovacuum comes by (a catalog's first minutes).`,
    'Blocks: 32 random bytes at the start of each 1 MiB block, zeros after. Every block is distinct, so none is deduplicated: each is named, claimed, PUT, marked present, reported, committed and listed in the manifest like any block; its sealed object is ~100 bytes, so compression, the cipher, MD5 and the PUT body are small; naming it still hashes the full MiB.',
    `Central CPU per block: the API, this stack's catalog backends (pg_stat_activity), RabbitMQ (beam.smp) and the GC worker, from /proc, less each one's CPU per second while the stack stood idle for ${runs[0].idle.seconds.toFixed(0)} s but for the bench's polling (times the phase's seconds: on a shared machine a phase lasts long, and heartbeats, outbox polling, sweeps and the bench's own polling would be charged to its blocks). The ceiling = ${cores} cores ÷ that: the blocks per second one control plane on this machine coordinates for hosts whose workers run elsewhere. "Achieved" is the wall-clock rate of the whole stack on the same ${cores} cores with its data plane, the sink, the proxy and other people's work.`,
    `Not included: the object store's work (the sink's CPU is measured and left out), the statement-counting proxy's CPU, PostgreSQL's background writers, and the hosts' side — agent and workers, reported per phase below: mostly data plane (in process, on blocks like these: ${ms(cost.snapshot)} CPU-ms a block for a snapshot's read, zero check, HMAC name, seal and MD5; ${ms(cost.restore)} for a restore's open, verify and write), plus their HTTP to the sink, their catalog and broker clients, and GC of the 1 MiB buffers.`,
    "Catalog statements: counted by a TCP proxy in front of PostgreSQL through which every process of the stack reaches it (pg_stat_statements is not loaded, and loading it needs a restart of the shared server); a statement is a simple query (BEGIN and COMMIT are ones) or an extended-protocol execute, each its own round trip here. Transactions: pg_stat_database; rows written: pg_stat_user_tables (inserted + updated + deleted), both for the stack's own database. Broker messages: island_messages_published_total summed over every process's /metrics (the API's outbox relay and the agents' and workers' events; each is consumed once). Counts include the phase's background work and the bench's polling (one list request a second).",
    `Hosts per control plane: a host moves ~${HOST_BLOCKS_PER_SECOND} blocks/s (1 MiB) on this machine (snapshot-pipeline's first snapshot of incompressible data); at the snapshots' central CPU per block above, ${ms(Math.max(...snapshotCentral))} to ${ms(Math.min(...snapshotCentral))} ms, ${cores} such cores of control plane serve ~${hosts(Math.max(...snapshotCentral))} to ${hosts(Math.min(...snapshotCentral))} hosts snapshotting at once, before limits this CPU bound does not show (row locks on one snapshot's row, WAL fsyncs, queue throughput).`,
    `Idle CPU per second: ${idle.join('; ')}.`,
    `The fixed cost of one catalog round trip on this machine during the run (500 × \`SELECT $1::int\` from the bench, before and after the runs): ${roundTrips
      .map((r) => `client ${ms(r.client)} + backend ${ms(r.backend)} CPU-ms, ${ms(r.seconds)} ms wall clock`)
      .join('; ')}. Catalog backends' CPU per block against statements per block × a trivial statement's backend CPU: ${runs
      .flatMap((run) =>
        phasesOf(run).map(
          ([what, u]) =>
            `${run.shape.workers}w ${what.split(' (')[0]} ${ms(u.cpu.catalog / run.blocks)} vs ${ms((u.statements / run.blocks) * roundTrips[0].backend)}`,
        ),
      )
      .join(', ')} ms.`,
    ...perPhase,
    contentionNote(runs, cores),
  ];
}

/** How busy the machine was with work none of the measured processes did ("not ours"), over every phase. */
function contentionNote(runs: RunResult[], cores: number): string {
  const phases = runs.flatMap((run) => phasesOf(run).map(([, u]) => u));
  const other = phases.reduce((sum, u) => sum + u.otherCpu, 0);
  const capacity = phases.reduce((sum, u) => sum + u.seconds * cores, 0);
  return (
    `"Not ours" is the machine's busy CPU that no measured process accounts for: ${other.toFixed(1)} CPU-s over the phases, ` +
    `${((100 * other) / capacity).toFixed(0)} % of the ${cores} cores' capacity. CPU per operation grows under such contention ` +
    `(shared caches, the hypervisor's scheduling), so a busy machine's central figures are high rather than low.`
  );
}
