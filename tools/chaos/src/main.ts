import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startIsland } from '@island/stack';
import { ACTIONS, ActionName, ChaosRun, ChaosSettings, ScheduledCycle } from './chaos-run';
import { FaultInjector } from './faults';
import { finalCheck, FinalFigures } from './final-check';
import { Random } from './random';
import { buildReport, renderReport, updateDoc } from './report';
import { SwiftFaultProxy } from './swift-fault-proxy';

const USAGE = `npm run chaos [-- options]   the fault suite on the real services (scripts/chaos.sh starts them)
  --cycles N       cycles to run (default 150)
  --seed S         the run's seed (default: drawn, and printed to run it again)
  --minutes M      start no cycle after M minutes (default 45)
  --slice          the short slice CI runs: one aimed fault of each kind first, each must land
  --update-doc     write the figures into docs/reliability.md
  --report FILE    where the JSON report goes (default: chaos-report-<seed>.json in the OS temp directory)
  --repeat A:F     every cycle is operation A with fault F (e.g. "copy:restart rabbitmq"), each after a
                   snapshot: to chase one fault`;

/** The CI slice: each kind of fault once, aimed at its phase, among the operations that can suffer it. */
const SLICE: ScheduledCycle[] = [
  { action: 'snapshot', volume: 0, fault: 'kill -9 worker-1' },
  { action: 'write', volume: 0 },
  { action: 'snapshot', volume: 0, fault: 'restart rabbitmq' },
  { action: 'snapshot', volume: 1, fault: 'kill -9 api' },
  { action: 'restore', fault: 'kill -9 agent' },
  { action: 'write', volume: 0 },
  { action: 'snapshot', volume: 0, fault: 'restart postgres', swiftWindow: true },
  // the oldest: volume 0's first snapshot, whose blocks the later writes replaced — GC has them to collect
  { action: 'delete-snapshot', oldest: true },
  { action: 'gc', fault: 'kill -9 gc' },
  { action: 'revert', fault: 'kill -9 worker-2' },
  { action: 'copy', fault: 'kill -9 worker-two' },
  { action: 'group-snapshot', swiftWindow: true },
  { action: 'replace-volume', volume: 2 },
];

/** Race points widened so that aimed faults find their phase (libs/platform's injected delays, in ms). */
const DELAYS = 'worker.after-claim=150-400,restore.after-manifest=500-1000,gc.after-mark=1500-2500,copy.before-present=50-150';
/** Short operation deadlines: an operation nothing will finish is ended by the sweeper within the run. */
const DEADLINES = 'attach=240,detach=120,revert=240,extend=240,snapshot=300,snapshot-copy=300,volume-delete=240,gc-run=600,fsck=900';

/** A schedule that repeats one operation with one fault, a snapshot before each (something new to copy, restore, delete). */
function repeated(spec: string, cycles: number): ScheduledCycle[] {
  const [action, fault] = spec.split(':');
  if (!(ACTIONS as readonly string[]).includes(action)) throw new Error(`--repeat: unknown operation ${action} (known: ${ACTIONS.join(', ')})`);
  return Array.from({ length: cycles }, (_, i) => (i % 2 === 0 ? { action: 'snapshot' } : { action: action as ActionName, ...(fault ? { fault } : {}) }));
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      cycles: { type: 'string' },
      seed: { type: 'string' },
      minutes: { type: 'string' },
      slice: { type: 'boolean', default: false },
      'update-doc': { type: 'boolean', default: false },
      report: { type: 'string' },
      repeat: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const seed = values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31);
  const schedule = values.slice ? SLICE : values.repeat ? repeated(values.repeat, Number(values.cycles ?? 20)) : [];
  const cycles = Number(values.cycles ?? (schedule.length || 150));
  const minutes = Number(values.minutes ?? 45);
  for (const [name, n] of Object.entries({ seed, cycles, minutes })) {
    if (!Number.isSafeInteger(n) || n < 0) throw new Error(`--${name} must be a whole number, not ${n}`);
  }
  const command = `npm run chaos -- --seed ${seed} --cycles ${cycles}${values.slice ? ' --slice' : ''}`;
  const log = (line: string) => process.stderr.write(`[chaos ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
  log(`seed ${seed}: ${command}`);

  const logsPath = join(process.env.TMPDIR ?? '/tmp', `chaos-logs-${seed}.txt`);
  const random = new Random(seed);
  const proxies = {
    RegionOne: new SwiftFaultProxy(new URL('http://127.0.0.1:8080/auth/v1.0'), random.fork(1)),
    RegionTwo: new SwiftFaultProxy(new URL('http://127.0.0.1:8090/auth/v1.0'), random.fork(2)),
  };
  const swiftAuthUrls = { RegionOne: await proxies.RegionOne.start(), RegionTwo: await proxies.RegionTwo.start() };
  const startedAt = new Date();
  const island = await startIsland({
    twoRegions: true,
    swiftAuthUrls,
    env: { ISLAND_INJECT_DELAYS_MS: DELAYS, ISLAND_OPERATION_DEADLINES: DEADLINES, ISLAND_SWEEP_SECONDS: '5' },
  });
  const settings: ChaosSettings = {
    cycles,
    volumes: 3,
    volumeMiB: 32,
    faultChance: 0.6,
    swiftWindowChance: 0.25,
    schedule,
    timeLimitMs: minutes * 60_000,
  };
  const faults = new FaultInjector(island, random.fork(3), log);
  const run = new ChaosRun(island, random, faults, proxies, settings, log);
  let final: FinalFigures | null = null;
  try {
    await run.setUp();
    await run.runCycles();
    run.setSwiftRates({ '5xx': 0, stall: 0, reset: 0, flip: 0 });
    final = await finalCheck(run, log);
    if (values.slice) {
      SLICE.forEach((planned, i) => {
        const record = faults.records.find((f) => f.cycle === i + 1);
        if (planned.fault && !record?.landedAt) {
          const why = record ? `its phase passed unseen (${record.aimedAt})` : `the ${planned.action} did not get that far`;
          run.findings.push(`the slice's ${planned.fault} (cycle ${i + 1}) never struck: ${why}`);
        }
      });
    }
  } catch (error) {
    run.findings.push(`the run stopped: ${error instanceof Error ? error.stack : String(error)}`);
  } finally {
    writeFileSync(logsPath, island.logs());
    await island.stop().catch((error: Error) => log(`stopping the stack: ${error.message}`));
    await Promise.all(Object.values(proxies).map((p) => p.close()));
  }

  const report = buildReport(run, proxies, final, { seed, command, startedAt });
  const reportPath = values.report ?? join(process.env.TMPDIR ?? '/tmp', `chaos-report-${seed}.json`);
  writeFileSync(reportPath, `${JSON.stringify({ ...report, faultLog: faults.records, cycleLog: run.cycles }, null, 2)}\n`);
  const section = renderReport(report);
  process.stdout.write(`${section}\n\nreport: ${reportPath}\nthe stack's logs: ${logsPath}\n`);
  if (values['update-doc']) updateDoc(join(__dirname, '..', '..', '..', 'docs', 'reliability.md'), section);
  if (run.findings.length > 0) {
    log(`${run.findings.length} finding(s); the stack's logs are in ${logsPath}`);
    return 1;
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (error: Error) => {
    process.stderr.write(`${error.message}\n${USAGE}\n`);
    process.exitCode = 2;
  },
);
