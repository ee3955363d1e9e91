import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { IslandStack, localSwift } from '@island/stack';

/** What the raw baselines move: objects of one container, each to or from a local file. */
export interface RawTransfer {
  /** Swift account URL and token (a session of the region's Swift). */
  storageUrl: string;
  token: string;
  container: string;
  objects: { name: string; file: string }[];
  direction: 'put' | 'get';
  /** Where the curl configs go. */
  workDir: string;
}

/** What the raw baseline took: its wall time, and the CPU its curl processes used (user + system, from bash's `times`). */
export interface RawTransferTime {
  ms: number;
  cpuSeconds: number;
}

/**
 * The raw baseline: 8 curl processes, each moving its share of the objects over one keep-alive connection,
 * with no hashing or bookkeeping of ours.
 */
export async function curlTransfers(t: RawTransfer): Promise<RawTransferTime> {
  mkdirSync(t.workDir, { recursive: true });
  const configs = Array.from({ length: 8 }, (_, p) => {
    const lines = [`header = "X-Auth-Token: ${t.token}"`, 'fail', 'silent', 'show-error'];
    for (let i = p; i < t.objects.length; i += 8) {
      const { name, file } = t.objects[i];
      lines.push(`url = "${t.storageUrl}/${t.container}/${name}"`);
      lines.push(t.direction === 'put' ? `upload-file = "${file}"` : `output = "${file}"`);
      if (t.direction === 'put') lines.push('output = "/dev/null"');
    }
    const path = join(t.workDir, `curl-${t.direction}-${p}.conf`);
    writeFileSync(path, `${lines.join('\n')}\n`);
    return path;
  });
  const started = performance.now();
  const cpu = await Promise.all(configs.map((c) => curlWithCpu(c)));
  return { ms: performance.now() - started, cpuSeconds: cpu.reduce((a, b) => a + b, 0) };
}

/** Runs `curl -K config` and returns its CPU seconds, as the shell that waited for it reports them (`times`). */
function curlWithCpu(config: string): Promise<number> {
  return new Promise((resolve, reject) => {
    let report = '';
    const shell = spawn('bash', ['-c', 'curl -K "$1"; status=$?; times; exit $status', 'curl-times', config], { stdio: ['ignore', 'pipe', 'inherit'] });
    shell.stdout.on('data', (chunk: Buffer) => (report += chunk.toString()));
    // 'close', not 'exit': the shell can exit before its stdout (the `times` line) has been read
    shell.on('close', (code) => {
      if (code !== 0) return reject(new Error(`curl -K ${config} exited ${code}`));
      // `times` prints the shell's user and system time, then its children's: "0m0.150s 0m0.230s"
      const children = report.trim().split('\n').at(-1) ?? '';
      const seconds = [...children.matchAll(/(\d+)m([\d.]+)s/g)].map(([, m, s]) => Number(m) * 60 + Number(s));
      if (seconds.length !== 2) return reject(new Error(`no CPU times from the shell that ran curl -K ${config}: ${report}`));
      resolve(seconds[0] + seconds[1]);
    });
  });
}

/**
 * The raw floor of a region copy: curl GETs every block object from RegionOne into /dev/shm, then PUTs them all to a
 * container of RegionTwo (`<the stack's container>-raw`).
 */
export async function curlRegionCopy(island: IslandStack, workDir: string, blockNames: string[]): Promise<{ get: RawTransferTime; put: RawTransferTime }> {
  const sessions = [];
  for (const region of ['RegionOne', 'RegionTwo']) {
    const swift = localSwift(region);
    if (region === 'RegionTwo') await swift.createContainer(`${island.container}-raw`);
    sessions.push(await swift.session());
    await swift.close();
  }
  const objects = blockNames.map((name, i) => ({ name, file: join('/dev/shm', `island-bench-copy-${i}`) }));
  try {
    const get = await curlTransfers({ ...sessions[0], container: island.container, objects, direction: 'get', workDir: join(workDir, 'get') });
    const put = await curlTransfers({ ...sessions[1], container: `${island.container}-raw`, objects, direction: 'put', workDir: join(workDir, 'put') });
    return { get, put };
  } finally {
    for (const o of objects) rmSync(o.file, { force: true });
  }
}
