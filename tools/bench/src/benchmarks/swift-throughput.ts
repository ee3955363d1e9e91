import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '@island/config';
import { swiftClientFor } from '@island/swift';
import { Benchmark, BenchmarkRow, BenchContext, mibPerSecond } from '../benchmark';

const CONCURRENCY = 8;
const ROUNDS = 5;
const CASES = [
  { label: '1 MiB', size: 1 << 20, count: 160 },
  { label: '4 MiB', size: 4 << 20, count: 64 },
];

/**
 * The Swift client's PUT and GET throughput against 8 long-lived keep-alive curl processes moving the same
 * objects to the same Swift in the same run. Rounds alternate curl and island; the median round of each counts.
 */
export const swiftThroughput: Benchmark = {
  name: 'swift-throughput',
  title: 'Swift client throughput vs keep-alive curl (concurrency 8)',
  async run(ctx) {
    const region = loadConfig(process.env).regions[0];
    const swift = swiftClientFor(region, { concurrency: CONCURRENCY, timeoutMs: 60_000, retries: 2 });
    const container = `island-bench-${Date.now()}`;
    await swift.createContainer(container);
    // object files on tmpfs, so curl reads them from memory as island does
    const dataDir = mkdtempSync(join('/dev/shm', 'island-bench-swift-'));
    const rows: BenchmarkRow[] = [];
    const md5Notes: string[] = [];
    try {
      const storageUrl = await swift.storageUrl();
      const { token } = await swift.session();
      for (const c of CASES) {
        const objects = Array.from({ length: c.count }, () => randomBytes(c.size));
        const files = objects.map((data, i) => {
          const path = join(dataDir, `${c.label.replace(' ', '')}-${i}`);
          writeFileSync(path, data);
          return path;
        });
        const bytes = c.size * c.count;
        const times: Record<'islandPut' | 'curlPut' | 'islandGet' | 'curlGet' | 'islandGetMd5', number[]> = {
          islandPut: [],
          curlPut: [],
          islandGet: [],
          curlGet: [],
          islandGetMd5: [],
        };
        for (let round = 0; round < ROUNDS; round++) {
          const prefix = `${c.label.replace(' ', '')}/r${round}`;
          const url = (who: string, i: number) => `${storageUrl}/${container}/${prefix}/${who}/${i}`;
          times.curlPut.push(
            await timed(() =>
              curlBatch(
                ctx,
                token,
                files.map((f, i) => ({ url: url('curl', i), upload: f })),
              ),
            ),
          );
          times.islandPut.push(await timed(() => pool(objects.map((data, i) => () => swift.putObject(container, `${prefix}/island/${i}`, data)))));
          times.curlGet.push(
            await timed(() =>
              curlBatch(
                ctx,
                token,
                files.map((_f, i) => ({ url: url('island', i) })),
              ),
            ),
          );
          times.islandGet.push(
            await timed(() => pool(objects.map((_d, i) => () => swift.getObject(container, `${prefix}/curl/${i}`, undefined, { verifyMd5: false })))),
          );
          times.islandGetMd5.push(await timed(() => pool(objects.map((_d, i) => () => swift.getObject(container, `${prefix}/curl/${i}`)))));
          ctx.log(`${c.label} round ${round + 1}/${ROUNDS} done`);
        }
        md5Notes.push(`GET ${c.label} with the client's own MD5 check: ${mibPerSecond(bytes, median(times.islandGetMd5)).toFixed(0)} MiB/s.`);
        for (const op of ['PUT', 'GET'] as const) {
          const island = mibPerSecond(bytes, median(op === 'PUT' ? times.islandPut : times.islandGet));
          const curl = mibPerSecond(bytes, median(op === 'PUT' ? times.curlPut : times.curlGet));
          rows.push({
            metric: `${op} ${c.count} × ${c.label}, concurrency ${CONCURRENCY}`,
            island: `${island.toFixed(0)} MiB/s`,
            baseline: `curl keep-alive ${curl.toFixed(0)} MiB/s`,
            ratio: island / curl,
            goal: '≥ 0.9×',
            pass: island / curl >= 0.9,
          });
        }
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
      const names = [];
      for await (const entry of swift.iterateObjects(container)) names.push({ container, name: entry.name });
      await swift.bulkDelete([...names, { container }]);
      await swift.close();
    }
    return {
      rows,
      notes: [
        `Swift all-in-one from scripts/services.sh on this machine (proxy 2 workers, ext4 device); median of ${ROUNDS} alternating rounds (the machine's noise is ±10%; the median is robust to one lucky round on either side).`,
        "island PUTs hash the body, send the MD5 as ETag and compare the answer. island GETs read into memory; in the table they skip the MD5, as island's block reads do (the block decoder verifies each block against its SHA-256 name); curl neither hashes nor keeps the bytes.",
        ...md5Notes,
        `curl: ${CONCURRENCY} processes, each given its share of the objects in one config file, so each reuses one connection.`,
      ],
    };
  },
};

async function timed(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

async function pool(tasks: (() => Promise<unknown>)[]): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) await tasks[next++]();
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
}

interface Transfer {
  url: string;
  /** a file to PUT; without it the URL is fetched to /dev/null */
  upload?: string;
}

/** Splits the transfers over CONCURRENCY curl processes with one config file each. */
async function curlBatch(ctx: BenchContext, token: string, transfers: Transfer[]): Promise<void> {
  const dir = join(ctx.workDir, `curl-${Date.now()}`);
  mkdirSync(dir, { recursive: true });
  const runs = Array.from({ length: CONCURRENCY }, (_, p) => {
    const mine = transfers.filter((_t, i) => i % CONCURRENCY === p);
    const config = [`header = "X-Auth-Token: ${token}"`, 'fail', 'silent', 'show-error'];
    for (const t of mine) {
      config.push(`url = "${t.url}"`, 'output = "/dev/null"');
      if (t.upload) config.push(`upload-file = "${t.upload}"`);
    }
    const file = join(dir, `p${p}.conf`);
    writeFileSync(file, `${config.join('\n')}\n`);
    return run('curl', ['-K', file]);
  });
  await Promise.all(runs);
}

function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${command} exited ${code}: ${stderr.trim()}`))));
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}
