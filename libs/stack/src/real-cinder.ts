import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { freePorts, releasePorts } from './free-ports';
import { ADMIN_DATABASE_URL, IslandStack } from './island-stack';

/** The repository root, from libs/stack/src (sources under Jest) or libs/stack/dist (built). */
const ROOT = join(__dirname, '..', '..', '..');
const SCRIPT = join(ROOT, 'scripts', 'cinder.sh');
const run = promisify(execFile);

export type Table = Record<string, string>;

/** Debian's Cinder services (scripts/cinder.sh) in front of a stack, and the `cinder` CLI against them. */
export interface RealCinder {
  dir: string;
  /**
   * `cinder …`; a non-zero exit throws with what it printed. Asynchronous: a test blocked in a child process
   * would keep its HTTP client from retiring idle connections the API has closed.
   */
  cli(...args: string[]): Promise<string>;
  /** `cinder …` whose output is one Property/Value table (create, show, …). */
  show(...args: string[]): Promise<Table>;
  /** `cinder …` whose output is a listing: one record per row, keyed by the header. */
  list(...args: string[]): Promise<Table[]>;
  /** Polls `cinder <command> <id>` until `field` is `wanted`; a status of error… fails at once. */
  waitFor(command: string, id: string, wanted: string, field?: string, timeoutMs?: number): Promise<Table>;
  /** The tail of the services' logs (for failure messages). */
  logs(): string;
  stop(): Promise<void>;
}

/**
 * Starts cinder-api, -scheduler, -volume and -backup (noauth, posix backups) with island's driver pointed at
 * this stack's RPC topic, as `project` (the stack's token project, so the REST API sees Cinder's volumes).
 * Cinder's services are named after the stack's host (cinder-backup's connector names this machine's hostname,
 * so a stack meant for backups names its host after the machine).
 */
export async function startRealCinder(island: IslandStack, project: string): Promise<RealCinder> {
  const dir = mkdtempSync(join(tmpdir(), 'island-cinder-'));
  const database = `cinder_${island.rpc.topic.replace(/[^A-Za-z0-9]/g, '_')}`;
  const [port] = await freePorts(1);
  mkdirSync(join(dir, 'cinder.conf.d'), { recursive: true });
  writeFileSync(
    join(dir, 'cinder.conf.d', 'e2e.conf'),
    `[DEFAULT]\nhost = ${island.host}\n[island]\nisland_call_monitor_timeout = 20\nisland_snapshot_poll_interval = 1\n`,
  );
  const env = {
    ...process.env,
    ISLAND_CINDER_TRANSPORT_URL: `${island.rpc.url}/`,
    ISLAND_CINDER_RPC_TOPIC: island.rpc.topic,
    ISLAND_CINDER_RPC_EXCHANGE: island.rpc.exchange,
    ISLAND_CINDER_API_PORT: String(port),
    ISLAND_CINDER_DB: database,
    ISLAND_CINDER_PROJECT_ID: project,
  };
  const up = spawnSync(SCRIPT, ['up', dir], { env, encoding: 'utf8', timeout: 400_000 });
  if (up.status !== 0) throw new Error(`scripts/cinder.sh up failed (${up.status ?? up.signal}):\n${up.stderr}`);
  const cliEnv = { ...env } as Record<string, string | undefined>;
  for (const line of spawnSync(SCRIPT, ['env', dir], { env, encoding: 'utf8' }).stdout.split('\n')) {
    const set = /^export (\w+)=(.*)$/.exec(line);
    if (set) cliEnv[set[1]] = set[2];
    const unset = /^unset (.*)$/.exec(line);
    if (unset) for (const name of unset[1].split(/\s+/)) delete cliEnv[name];
  }

  const logs = () =>
    ['cinder-volume', 'cinder-backup', 'cinder-scheduler']
      .map((s) => `--- ${s}\n${spawnSync('tail', ['-n', '40', join(dir, 'log', `${s}.log`)], { encoding: 'utf8' }).stdout}`)
      .join('\n');
  const cli = async (...args: string[]) => {
    try {
      return (await run('/usr/bin/cinder', args, { env: cliEnv, encoding: 'utf8', timeout: 120_000 })).stdout;
    } catch (error) {
      const e = error as { code?: number | string; stderr?: string; stdout?: string };
      throw new Error(`cinder ${args.join(' ')} exited ${String(e.code)}: ${e.stderr ?? ''}${e.stdout ?? ''}`);
    }
  };
  const show = async (...args: string[]) => parsePropertyTable(await cli(...args));
  const list = async (...args: string[]) => parseListing(await cli(...args));

  return {
    dir,
    cli,
    show,
    list,
    logs,
    async waitFor(command, id, wanted, field = 'status', timeoutMs = 240_000) {
      const deadline = Date.now() + timeoutMs;
      for (let wait = 200; ; wait = Math.min(2000, wait * 2)) {
        const record = await show(command, id);
        if (record[field] === wanted) return record;
        if (/^error/.test(record.status ?? '') && !/^error/.test(wanted)) {
          throw new Error(`cinder ${command} ${id}: ${record.status} (waiting for ${field} ${wanted})\n${logs()}`);
        }
        if (Date.now() > deadline) throw new Error(`cinder ${command} ${id}: ${field} is ${record[field]}, not ${wanted}, after ${timeoutMs} ms\n${logs()}`);
        await new Promise((r) => setTimeout(r, wait));
      }
    },
    async stop() {
      spawnSync(SCRIPT, ['down', dir], { env, encoding: 'utf8', timeout: 60_000 });
      releasePorts([port]);
      const admin = new Client({ connectionString: ADMIN_DATABASE_URL });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await admin.end();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * cinderclient's `| Property | Value |` table; a value wrapped over several rows is joined. Commands that print
 * two tables (attachment-show: the attachment, then its connection_info) give the rows of both.
 */
export function parsePropertyTable(output: string): Table {
  const table: Table = {};
  let last: string | undefined;
  for (const row of tableRows(output).slice(1)) {
    const [key, value = ''] = row;
    if (key === '' && last !== undefined) table[last] += value;
    else {
      last = key;
      table[key] = value;
    }
  }
  return table;
}

/** cinderclient's listing: the first row names the columns. */
export function parseListing(output: string): Table[] {
  const [header, ...rows] = tableRows(output);
  return header ? rows.map((row) => Object.fromEntries(header.map((name, i) => [name, row[i] ?? '']))) : [];
}

function tableRows(output: string): string[][] {
  return output
    .split('\n')
    .filter((line) => line.startsWith('|'))
    .map((line) =>
      line
        .slice(1, -1)
        .split('|')
        .map((cell) => cell.trim()),
    );
}
