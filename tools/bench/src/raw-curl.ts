import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

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

/**
 * The raw baseline: 8 curl processes, each moving its share of the objects over one keep-alive connection,
 * with no hashing or bookkeeping of ours. Returns the wall time in ms.
 */
export async function curlTransfers(t: RawTransfer): Promise<number> {
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
  await Promise.all(
    configs.map(
      (c) =>
        new Promise((resolve, reject) =>
          spawn('curl', ['-K', c], { stdio: 'ignore' }).on('exit', (code) => (code === 0 ? resolve(null) : reject(new Error(`curl -K ${c} exited ${code}`)))),
        ),
    ),
  );
  return performance.now() - started;
}
