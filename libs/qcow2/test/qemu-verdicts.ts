import { execFile, spawn } from 'node:child_process';

/** Runs `task` over `items` with at most `limit` running at once, keeping the order of the results. */
export async function pooled<T, R>(items: T[], limit: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await task(items[i]);
    }
  };
  await Promise.all([...Array(Math.min(limit, items.length)).keys()].map(worker));
  return results;
}

/** `qemu-img check`: exit status 0 (clean), 3 (leaked clusters only), 2 (corruption), 1 (could not check). */
export function qemuImgCheck(path: string): Promise<{ status: number; output: string }> {
  return new Promise((resolve) => {
    execFile('qemu-img', ['check', '-f', 'qcow2', path], (error, stdout, stderr) => {
      const status = error ? Number((error as { code?: number }).code ?? 1) : 0;
      resolve({ status, output: `${stderr}${stdout}`.trim() }); // the ERROR lines come on stderr
    });
  });
}

/** `qemu-img convert` of one snapshot to raw bytes, or the error qemu-img gave. */
export function qemuSnapshotBytes(path: string, snapshot: string, out: string): Promise<{ ok: true } | { ok: false; error: string }> {
  return new Promise((resolve) => {
    execFile('qemu-img', ['convert', '-l', `snapshot.name=${snapshot}`, '-O', 'raw', path, out], (error, _stdout, stderr) => {
      resolve(error ? { ok: false, error: stderr.trim() || error.message } : { ok: true });
    });
  });
}

/**
 * Checks with one qemu-io process that each image's active guest bytes equal `expected`: the expected bytes are
 * cut into runs of one value and each run is read with a pattern check. Returns the problems per image.
 */
export async function qemuIoVerify(images: { path: string; expected: Buffer }[]): Promise<string[][]> {
  const commands: { image: number; text: string }[] = [];
  images.forEach(({ path, expected }, image) => {
    commands.push({ image, text: `open -r -o driver=qcow2,file.locking=off ${path}` });
    for (const run of runs(expected)) commands.push({ image, text: `read -q -P ${run.value} ${run.offset} ${run.length}` });
    commands.push({ image, text: 'close' });
  });
  const output = await qemuIo(commands.map((c) => c.text).join('\n') + '\n');
  // qemu-io prompts before reading each command, so the text between two prompts is one command's output
  const replies = output.split('qemu-io> ').slice(1);
  const problems: string[][] = images.map(() => []);
  commands.forEach((command, i) => {
    const reply = (replies[i] ?? '(no reply)').trim();
    if (reply) problems[command.image].push(`qemu-io ${command.text}: ${reply}`);
  });
  return problems;
}

function runs(bytes: Buffer): { value: number; offset: number; length: number }[] {
  const out: { value: number; offset: number; length: number }[] = [];
  for (let at = 0; at < bytes.length;) {
    let end = at + 1;
    while (end < bytes.length && bytes[end] === bytes[at]) end++;
    out.push({ value: bytes[at], offset: at, length: end - at });
    at = end;
  }
  return out;
}

function qemuIo(script: string): Promise<string> {
  return new Promise((resolve, reject) => {
    // one stream for both, so that an error message stays between the prompts of its command
    const child = spawn('sh', ['-c', 'exec qemu-io 2>&1'], { stdio: ['pipe', 'pipe', 'inherit'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.on('error', reject);
    child.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
    child.stdin.end(script);
  });
}
