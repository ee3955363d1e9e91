import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'amqplib';
import { Client } from 'pg';
import { FileKekSource, Keyring, ProjectKeys, ProjectKeyStore } from '@island/blockstore';
import { nodeHeapFlags } from '@island/config';
import { fuseMountPoints, LOOP_DEVICE_LISTING, loopDevicesIn } from '@island/platform';
import { swiftClientFor } from '@island/swift';
import { freePorts, releasePorts } from './free-ports';

/** The repository root, from libs/stack/src (sources under Jest) or libs/stack/dist (built). */
const ROOT = join(__dirname, '..', '..', '..');
/** The PostgreSQL server's maintenance database, where stacks create and drop their own catalogs. */
export const ADMIN_DATABASE_URL = process.env.ISLAND_TEST_ADMIN_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const AMQP = process.env.ISLAND_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const ADMIN_TOKEN = 'e2e-admin-token';

export interface StackOptions {
  /** Where the hosts' data directories are made (default: the system's temporary directory). */
  dataRoot?: string;
  /** Snapshot workers to start (default 2). */
  workers?: number;
  /** GC workers to start (default 1); replicas compete for requested runs and run their own schedules side by side. */
  gcWorkers?: number;
  /** Extra environment for every process of the stack (e.g. ISLAND_INJECT_DELAYS_MS). */
  env?: Record<string, string>;
  /** Extra environment for single processes, by name (e.g. `{ gc: { ISLAND_GC_INTERVAL_SECONDS: '1' } }`), over `env`. */
  processEnv?: Record<string, Record<string, string>>;
  /** Use this Swift container (another stack's) instead of a fresh one: e.g. to rebuild a catalog from it. */
  container?: string;
  /**
   * Also configure RegionTwo (the local Swift scripts/services.sh starts on port 8090 when
   * ISLAND_LOCAL_REGIONS="RegionOne RegionTwo") and run a second host there: its own agent, one worker, data dir.
   */
  twoRegions?: boolean;
  /**
   * The first host's name (default e2e-<id>). Naming it after this machine (its hostname's first label) lets
   * clients that attach "here" by hostname find it, as cinder-backup's os-brick connector does.
   */
  hostName?: string;
  /** Where the stack's processes reach a region's Swift, by region (e.g. a fault proxy in front of it); default the local Swift. */
  swiftAuthUrls?: Record<string, string>;
  /** The API reaches PostgreSQL at this host:port instead (e.g. a proxy a test cuts to take the catalog away). */
  apiCatalogAddress?: string;
  /** Every process reaches PostgreSQL at this host:port instead (e.g. a proxy a benchmark counts statements with); apiCatalogAddress wins for the API. */
  catalogAddress?: string;
}

export interface StackHost {
  name: string;
  region: string;
  dataDir: string;
}

export interface IslandStack {
  api: string;
  /** This stack's Swift container in RegionOne. */
  container: string;
  /** The stack's own catalog database. */
  databaseUrl: string;
  /** Where Cinder would call: the oslo.messaging transport URL (rabbit://…), exchange, this stack's topic, the API's server name. */
  rpc: { url: string; exchange: string; topic: string; server: string };
  /** Where each process listens (health, readiness, /metrics). */
  ports: { api: number; agent: number; gc: number; gcReplicas: number[]; workers: number[] };
  /** Where the process of that name (api, agent, worker-1, gc, agent-two, …) serves /metrics; undefined: no such process. */
  metricsPort(name: string): number | undefined;
  host: string;
  dataDir: string;
  /** The local key file holding the stack's key-encryption key(s) (ISLAND_KEK_FILE). */
  kekFile: string;
  /** A project's keys as the workers derive them (catalog + KEK file): what names its blocks (it must have one already). */
  projectKeys(projectId: string): Promise<ProjectKeys>;
  /** Every host of the stack: RegionOne's first, then RegionTwo's (twoRegions). */
  hosts: StackHost[];
  token: string;
  otherToken: string;
  request<T = Record<string, unknown>>(method: string, path: string, body?: object, token?: string): Promise<{ status: number; body: T }>;
  /** `island …` as a user runs it, against this stack. */
  cli(...args: string[]): { code: number; stdout: string; stderr: string };
  /** `island …` with the admin token (gc, fsck, catalog rebuild). */
  adminCli(...args: string[]): { code: number; stdout: string; stderr: string };
  /** `island … --json` as a user: its parsed output; a non-zero exit throws with what it printed. */
  json<T = Record<string, unknown>>(...args: string[]): T;
  /** `island … --json` with the admin token. */
  adminJson<T = Record<string, unknown>>(...args: string[]): T;
  adminToken: string;
  /** Everything the stack's processes printed so far. */
  logs(): string;
  /** The stack's Swift objects under a prefix, with their sizes (RegionOne's unless another region is named). */
  swiftObjects(prefix: string, region?: string): Promise<Map<string, number>>;
  /** SIGKILL a process of the stack (e.g. 'worker-1'), as a crash would. */
  kill(name: string): void;
  /** SIGKILL a process of the stack and resolve once it has exited (rejects if it outlives the signal for 5 s). */
  crash(name: string): Promise<void>;
  /** The process id of a running process of the stack (e.g. to SIGSTOP it). */
  pid(name: string): number;
  /** Starts a killed process again, as a supervisor would (resolves once it is ready). */
  revive(name: string): Promise<void>;
  /**
   * What a host reboot takes from the stack's host, its agent aside (crash that first): the storage daemon and nbdfuse
   * killed (-9), their FUSE mounts and loop devices gone. Image files stay.
   */
  loseStorageDaemon(): void;
  /** Lines the local Swift proxy of a region logged since the stack started (scripts/services.sh's log). */
  swiftProxyLog(region: string): string[];
  stop(): Promise<void>;
}

/**
 * The real island for end-to-end tests: the built API, a node agent, two snapshot workers and a GC worker as separate
 * processes, on the real PostgreSQL (a fresh database), RabbitMQ (a namespace of its own) and Swift (a
 * container of its own). Run after `nx run-many -t build` (npm test does).
 */
export async function startIsland(options: StackOptions = {}): Promise<IslandStack> {
  const workers = options.workers ?? 2;
  const gcWorkers = options.gcWorkers ?? 1;
  const id = randomBytes(4).toString('hex');
  const database = `island_e2e_${id}`;
  const admin = new Client({ connectionString: ADMIN_DATABASE_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${database}`);
  await admin.end();
  const dataRoot = options.dataRoot ?? tmpdir();
  const dataDir = mkdtempSync(join(dataRoot, `island-e2e-${id}-`));
  const host = options.hostName ?? `e2e-${id}`;
  // ports the kernel hands out as free right now, reserved for this stack until it stops (free-ports.ts)
  const ports = await freePorts(2 + workers + gcWorkers + (options.twoRegions ? 2 : 0));
  const [apiPort, agentPort, ...rest] = ports;
  const workerPorts = rest.slice(0, workers);
  const gcPorts = rest.slice(workers, workers + gcWorkers);
  const [agentTwoPort, workerTwoPort] = rest.slice(workers + gcWorkers);
  const container = options.container ?? `island-e2e-${id}`;
  // the KEK of this stack's projects' keys (made by the first process that needs it; tests may use another manager)
  const kekFile = join(mkdtempSync(join(tmpdir(), `island-e2e-${id}-keys-`)), 'kek');
  await FileKekSource.create(kekFile);
  const hosts: StackHost[] = [{ name: host, region: 'RegionOne', dataDir }];
  if (options.twoRegions) hosts.push({ name: `${host}-two`, region: 'RegionTwo', dataDir: mkdtempSync(join(dataRoot, `island-e2e-${id}-two-`)) });
  const env = {
    ...process.env,
    ISLAND_DATABASE_URL: ADMIN_DATABASE_URL.replace(/\/[^/]*$/, `/${database}`),
    ISLAND_AMQP_URL: AMQP,
    ISLAND_AMQP_NAMESPACE: `e2e-${id}`,
    ISLAND_REGIONS: JSON.stringify(
      LOCAL_REGIONS.slice(0, options.twoRegions ? 2 : 1).map((r) => ({
        name: r.name,
        authUrl: options.swiftAuthUrls?.[r.name] ?? r.authUrl,
        user: 'test:tester',
        key: 'testing',
        container,
      })),
    ),
    ISLAND_REGION: 'RegionOne',
    ISLAND_HOST: host,
    ISLAND_DATA_DIR: dataDir,
    ISLAND_API_PORT: String(apiPort),
    ISLAND_AGENT_PORT: String(agentPort),
    ISLAND_TOKENS: JSON.stringify({ 'e2e-token': 'alpha', 'e2e-other': 'beta' }),
    ISLAND_ADMIN_TOKEN: ADMIN_TOKEN,
    // the tests run GC when they mean to
    ISLAND_GC_INTERVAL_SECONDS: '0',
    // and scrub when they mean to
    ISLAND_SCRUB_INTERVAL_HOURS: '0',
    ISLAND_GC_PORT: String(gcPorts[0]),
    ISLAND_RPC_TOPIC: `island-volume-e2e-${id}`,
    ISLAND_KEK_FILE: kekFile,
    ...options.env,
    // the stack's processes log warnings only; ISLAND_STACK_LOG_LEVEL (e.g. 'log') with ISLAND_STACK_LOG_FILE to debug a test
    ISLAND_LOG_LEVEL: process.env.ISLAND_STACK_LOG_LEVEL ?? 'warn',
  };
  const children: ChildProcess[] = [];
  const byName = new Map<string, ChildProcess>();
  const started = new Map<string, { script: string; extra: Record<string, string> }>();
  /** Where each process serves health, readiness and /metrics, by name. */
  const portOf = new Map<string, number>();
  const proxyLogStart = new Map(LOCAL_REGIONS.map((r) => [r.name, fileSize(proxyLogPath(r.name))]));
  const logs: string[] = [];
  const logFile = process.env.ISLAND_STACK_LOG_FILE;
  const catalogAt = (address?: string): Record<string, string> =>
    address ? { ISLAND_DATABASE_URL: env.ISLAND_DATABASE_URL.replace(/@[^/]+\//, `@${address}/`) } : {};
  const start = (name: string, script: string, port: number, extra: Record<string, string> = {}) => {
    // ISLAND_STACK_NODE_ARGS: extra node flags for the stack's processes (e.g. --cpu-prof to profile them)
    const nodeArgs = (process.env.ISLAND_STACK_NODE_ARGS ?? '').split(' ').filter(Boolean);
    const processEnv = { ...env, ...catalogAt(options.catalogAddress), ...extra, ...options.processEnv?.[name] };
    // launched as scripts/run.sh launches it: with its heap cap (ISLAND_HEAP_MIB)
    const child = spawn(process.execPath, [...nodeHeapFlags(processEnv), ...nodeArgs, join(ROOT, script)], {
      env: processEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (d: Buffer) => {
      const line = `[${name}] ${d.toString()}`;
      logs.push(line);
      if (logFile) appendFileSync(logFile, line);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    children.push(child);
    byName.set(name, child);
    started.set(name, { script, extra });
    portOf.set(name, port);
  };
  const apiCatalog = catalogAt(options.apiCatalogAddress);
  start('api', 'apps/api/dist/main.js', apiPort, apiCatalog);
  start('agent', 'apps/node-agent/dist/main.js', agentPort, { ISLAND_AGENT_PORT: String(agentPort) });
  workerPorts.forEach((p, w) => start(`worker-${w + 1}`, 'apps/snapshot-worker/dist/main.js', p, { ISLAND_WORKER_PORT: String(p) }));
  gcPorts.forEach((p, g) => start(g === 0 ? 'gc' : `gc-${g + 1}`, 'apps/gc-worker/dist/main.js', p, { ISLAND_GC_PORT: String(p) }));
  if (options.twoRegions) {
    const two = { ISLAND_REGION: 'RegionTwo', ISLAND_HOST: hosts[1].name, ISLAND_DATA_DIR: hosts[1].dataDir };
    start('agent-two', 'apps/node-agent/dist/main.js', agentTwoPort, { ...two, ISLAND_AGENT_PORT: String(agentTwoPort) });
    start('worker-two', 'apps/snapshot-worker/dist/main.js', workerTwoPort, { ...two, ISLAND_WORKER_PORT: String(workerTwoPort) });
  }
  const api = `http://127.0.0.1:${apiPort}`;
  const ready = async (p: number) => (await fetch(`http://127.0.0.1:${p}/readyz`).catch(() => undefined))?.ok === true;
  for (let i = 0; i < 200; i++) {
    const states = await Promise.all([...portOf.values()].map(ready));
    if (states.every(Boolean)) break;
    if (i === 199) throw new Error(`island did not become ready:\n${logs.join('')}`);
    await new Promise((r) => setTimeout(r, 150));
  }
  const request = async <T>(method: string, path: string, body?: object, token = 'e2e-token') => {
    const send = () =>
      fetch(`${api}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
    // a synchronous CLI call (spawnSync) can hold the test's event loop past the API's keep-alive timeout: the next
    // request then goes out on a socket the API already closed, before the API read it — sent again on a new one
    // (undici says so as "other side closed", or as the reset or broken pipe the write met)
    const res = await send().catch((error: Error & { cause?: { code?: string } }) => {
      if (['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE'].includes(error.cause?.code ?? '')) return send();
      throw new Error(`${method} ${path}: ${error.message} (${error.cause?.code ?? String(error.cause)})`);
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as T };
  };
  // the agents' first heartbeats register the hosts (read from the catalog: the stack may use Keystone's tokens)
  const catalog = new Client({ connectionString: env.ISLAND_DATABASE_URL });
  await catalog.connect();
  try {
    for (let i = 0; i < 100; i++) {
      const known = (await catalog.query<{ name: string }>('SELECT name FROM host')).rows.map((r) => r.name);
      if (hosts.every((h) => known.includes(h.name))) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await catalog.end();
  }
  const cli = (token: string, args: string[]) => {
    const result = spawnSync(process.execPath, [join(ROOT, 'apps/cli/bin/island'), ...args], {
      env: { ...process.env, ISLAND_API_URL: api, ISLAND_TOKEN: token },
      encoding: 'utf8',
    });
    return { code: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
  };
  const json = <T>(token: string, args: string[]): T => {
    const result = cli(token, [...args, '--json']);
    if (result.code !== 0) throw new Error(`island ${args.join(' ')} exited ${result.code}: ${result.stderr}${result.stdout}`);
    return JSON.parse(result.stdout) as T;
  };
  return {
    api,
    container,
    databaseUrl: env.ISLAND_DATABASE_URL,
    rpc: { url: AMQP.replace(/^amqp:/, 'rabbit:'), exchange: 'openstack', topic: env.ISLAND_RPC_TOPIC, server: host },
    ports: { api: apiPort, agent: agentPort, gc: gcPorts[0], gcReplicas: gcPorts, workers: workerPorts },
    metricsPort: (name) => portOf.get(name),
    host,
    dataDir,
    kekFile,
    projectKeys: (projectId: string) => readProjectKeys(env.ISLAND_DATABASE_URL, kekFile, projectId),
    hosts,
    token: 'e2e-token',
    otherToken: 'e2e-other',
    request,
    adminToken: ADMIN_TOKEN,
    cli: (...args: string[]) => cli('e2e-token', args),
    adminCli: (...args: string[]) => cli(ADMIN_TOKEN, args),
    json: <T>(...args: string[]) => json<T>('e2e-token', args),
    adminJson: <T>(...args: string[]) => json<T>(ADMIN_TOKEN, args),
    logs: () => logs.join(''),
    async swiftObjects(prefix: string, region = 'RegionOne') {
      const swift = localSwift(region);
      try {
        const objects = new Map<string, number>();
        for await (const o of swift.iterateObjects(container, { prefix })) objects.set(o.name, o.bytes);
        return objects;
      } finally {
        await swift.close();
      }
    },
    kill(name: string) {
      byName.get(name)?.kill('SIGKILL');
    },
    async crash(name: string) {
      const child = byName.get(name);
      if (!child) throw new Error(`no process ${name} in this stack`);
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGKILL');
      let timer: NodeJS.Timeout | undefined;
      const outlived = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${name} (pid ${child.pid}) outlived its SIGKILL`)), 5_000);
      });
      await Promise.race([exited, outlived]).finally(() => clearTimeout(timer));
    },
    pid(name: string) {
      const pid = byName.get(name)?.pid;
      if (pid === undefined) throw new Error(`no running process ${name} in this stack`);
      return pid;
    },
    loseStorageDaemon() {
      stopStorageDaemon(dataDir, 'SIGKILL');
    },
    async revive(name: string) {
      const how = started.get(name);
      const port = portOf.get(name);
      if (!how || port === undefined) throw new Error(`no process ${name} in this stack`);
      start(name, how.script, port, how.extra);
      for (let i = 0; i < 200 && !(await ready(port)); i++) await new Promise((r) => setTimeout(r, 150));
    },
    swiftProxyLog(region: string) {
      const path = proxyLogPath(region);
      return readFileSync(path)
        .subarray(proxyLogStart.get(region) ?? 0)
        .toString('utf8')
        .split('\n');
    },
    async stop() {
      for (const child of children) child.kill('SIGTERM');
      await Promise.all(children.map((c) => exitWithin(c, STOP_WAIT_MS, [...byName].find(([, b]) => b === c)?.[0] ?? `pid ${c.pid}`)));
      releasePorts(ports);
      const db = new Client({ connectionString: ADMIN_DATABASE_URL });
      await db.connect();
      await db.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await db.end();
      const conn = await connect(AMQP);
      const ch = await conn.createChannel();
      const ns = env.ISLAND_AMQP_NAMESPACE;
      const hostQueues = hosts.flatMap((h) => [`${ns}.island.agent.${h.name}`, `${ns}.island.worker.${h.name}`]);
      for (const q of [`${ns}.island.api`, ...hostQueues, `${ns}.island.worker`, `${ns}.island.worker.read`, `${ns}.island.gc`, `${ns}.island.dead`]) {
        await ch.deleteQueue(q).catch(() => undefined);
        for (const delay of [1000, 5000, 30000, 120000, 300000]) await ch.deleteQueue(`${q}.retry.${delay}ms`).catch(() => undefined);
      }
      for (const q of [env.ISLAND_RPC_TOPIC, `${env.ISLAND_RPC_TOPIC}.${host}`]) await ch.deleteQueue(q).catch(() => undefined);
      await ch.deleteExchange(`${env.ISLAND_RPC_TOPIC}_fanout`).catch(() => undefined);
      await ch.deleteExchange(`${ns}.island`).catch(() => undefined);
      await ch.deleteExchange(`${ns}.island.dead`).catch(() => undefined);
      await conn.close();
      for (const r of LOCAL_REGIONS.slice(0, options.twoRegions ? 2 : 1)) await removeContainers(`island-e2e-${id}`, r.name);
      for (const h of hosts) {
        stopStorageDaemon(h.dataDir);
        rmSync(h.dataDir, { recursive: true, force: true });
      }
    },
  };
}

/** A stopping process has this long to exit (services bound their own shutdown to 30 s) before it is killed. */
const STOP_WAIT_MS = 40_000;

/** Resolves once `child` has exited; past `ms`, kills it and says so on stderr (a shutdown that hung is a finding). */
function exitWithin(child: ChildProcess, ms: number, name: string): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const started = Date.now();
    const timer = setTimeout(() => {
      process.stderr.write(`island stack: ${name} (pid ${child.pid}) had not exited ${ms / 1000} s after SIGTERM; killing it\n`);
      child.kill('SIGKILL');
    }, ms);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      const took = Date.now() - started;
      if (took > 10_000) process.stderr.write(`island stack: ${name} took ${(took / 1000).toFixed(1)} s to stop (exit ${code ?? signal})\n`);
      resolve();
    });
  });
}

/** Deletes this stack's Swift containers (its own and any a benchmark made beside it) with everything in them. */
async function removeContainers(prefix: string, region: string): Promise<void> {
  const swift = localSwift(region);
  try {
    for (const { name } of await swift.listContainers({ prefix })) {
      const objects = [];
      for await (const o of swift.iterateObjects(name)) objects.push({ container: name, name: o.name });
      await swift.bulkDelete([...objects, { container: name }]);
    }
  } finally {
    await swift.close();
  }
}

/** The regions scripts/services.sh starts on this machine, in order (ISLAND_LOCAL_REGIONS). */
const LOCAL_REGIONS = [
  { name: 'RegionOne', authUrl: 'http://127.0.0.1:8080/auth/v1.0' },
  { name: 'RegionTwo', authUrl: 'http://127.0.0.1:8090/auth/v1.0' },
];

/**
 * A host's qemu-storage-daemon and the nbdfuse mounts of filling volumes outlive their agent by design (VMs keep their
 * disks): the stack ends them, with any loop device a test left over a raw file. With SIGKILL, as a host reboot does:
 * the daemon and every nbdfuse die first, without a word to their clients.
 */
function stopStorageDaemon(dataDir: string, signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): void {
  const exportsDir = join(dataDir, 'exports');
  const kill = (pidFile: string) => {
    if (!existsSync(pidFile)) return;
    try {
      process.kill(Number(readFileSync(pidFile, 'utf8').trim()), signal);
    } catch {
      // gone already
    }
  };
  if (signal === 'SIGKILL') {
    kill(join(dataDir, 'qsd', 'qsd.pid'));
    if (existsSync(exportsDir)) for (const name of readdirSync(exportsDir)) if (name.endsWith('.nbdfuse.pid')) kill(join(exportsDir, name));
  }
  const listing = spawnSync('losetup', LOOP_DEVICE_LISTING, { encoding: 'utf8' }).stdout ?? '';
  for (const { device, backingFile } of loopDevicesIn(listing)) if (backingFile.startsWith(`${exportsDir}/`)) spawnSync('losetup', ['--detach', device]);
  // nbdfuse exits once its file is unmounted
  for (const point of fuseMountPoints()) if (point.startsWith(`${exportsDir}/`)) spawnSync('umount', ['--lazy', point]);
  if (signal === 'SIGTERM') kill(join(dataDir, 'qsd', 'qsd.pid'));
}

function proxyLogPath(region: string): string {
  return join(process.env.ISLAND_SERVICES_DIR ?? '/var/tmp/island-services', 'swift', region, 'log', 'proxy.log');
}

function fileSize(path: string): number {
  return existsSync(path) ? statSync(path).size : 0;
}

/** A Swift client for a local region (scripts/services.sh's tempauth account). */
export function localSwift(region: string) {
  const local = LOCAL_REGIONS.find((r) => r.name === region);
  if (!local) throw new Error(`no local Swift for region ${region}`);
  return testerSwift(local.name, local.authUrl);
}

/** A Swift client for the test account at a v1 auth URL (a local Swift, or a bench's sink that answers as one). */
export function testerSwift(name: string, authUrl: string) {
  return swiftClientFor({ name, swift: { authUrl, authVersion: '1', user: 'test:tester', key: 'testing' } }, { concurrency: 8, timeoutMs: 60_000, retries: 2 });
}

/** A Swift client for the local RegionOne every stack uses. */
export function regionOneSwift() {
  return localSwift('RegionOne');
}

/** A project's keys from its wrapped key in the catalog and the KEK file (read only: never makes a key). */
async function readProjectKeys(databaseUrl: string, kekFile: string, projectId: string): Promise<ProjectKeys> {
  const db = new Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    const store: ProjectKeyStore = {
      async find(id) {
        const { rows } = await db.query(`SELECT kek_id, wrapped, shredded_at FROM project_key WHERE project_id = $1`, [id]);
        return rows[0] ? { kekId: rows[0].kek_id, wrapped: rows[0].wrapped, shreddedAt: rows[0].shredded_at } : null;
      },
      keep: async () => Promise.reject(new Error('read only')),
    };
    const keys = await new Keyring(new FileKekSource(kekFile), store).keysFor(projectId);
    if (!keys) throw new Error(`project ${projectId} has no key yet: it gets one with its first snapshot`);
    return keys;
  } finally {
    await db.end();
  }
}
