import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { directWritesAllowed } from '@island/qcow2';
import { imageFileNode, QmpClient, storageDaemonEnvironment } from '@island/qmp';

const run = promisify(execFile);

/**
 * How long QEMU's own `block-stream` (the job that fills a lazily restored volume) takes to copy `image` into an empty
 * qcow2 when the backing answers at once: `image` served by qemu-nbd from the page cache, no Swift, no island. The
 * fill runs the same job over island's snapshot server; this is what QEMU's part of it costs on the same machine.
 * Milliseconds.
 */
export async function qemuStreamMs(image: string, bytes: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'island-block-stream-'));
  const source = join(dir, 'source.sock');
  const monitor = join(dir, 'qmp.sock');
  const pidFile = join(dir, 'qsd.pid');
  const nbd = spawn('qemu-nbd', ['-f', 'qcow2', '-r', '-x', 'snapshot', '-k', source, '--persistent', image], { stdio: 'ignore' });
  let qmp: QmpClient | undefined;
  try {
    await run('dd', [`if=${image}`, 'of=/dev/null', 'bs=4M', 'status=none']); // in the page cache, as a source that answers at once
    for (let waited = 0; !existsSync(source); waited += 50) {
      if (waited > 10_000) throw new Error(`qemu-nbd did not serve ${image} within 10 s`);
      await new Promise((r) => setTimeout(r, 50));
    }
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', join(dir, 'target.qcow2'), String(bytes)]);
    await run(
      'qemu-storage-daemon',
      ['--chardev', `socket,id=qmp,path=${monitor},server=on,wait=off`, '--monitor', 'chardev=qmp', '--pidfile', pidFile, '--daemonize'],
      { env: storageDaemonEnvironment() },
    ); // started as the agent starts its daemon
    qmp = await QmpClient.connect(monitor);
    await qmp.execute('blockdev-add', {
      driver: 'nbd',
      'node-name': 'snapshot',
      server: { type: 'unix', path: source },
      export: 'snapshot',
      'read-only': true,
      'reconnect-delay': 0,
    });
    await qmp.execute('blockdev-add', {
      driver: 'qcow2',
      'node-name': 'target',
      file: imageFileNode(join(dir, 'target.qcow2'), await directWritesAllowed(dir)), // as the agent opens a filling volume's image
      backing: 'snapshot',
    });
    const concluded = qmp.waitForEvent('JOB_STATUS_CHANGE', (d) => d.status === 'concluded', 3_600_000);
    const started = performance.now();
    await qmp.execute('block-stream', { 'job-id': 'copy', device: 'target', 'auto-dismiss': false });
    await concluded;
    const ms = performance.now() - started;
    const [job] = (await qmp.execute('query-block-jobs', {})).filter((j) => j.device === 'copy');
    if (job?.error) throw new Error(`QEMU's block-stream of ${image} failed: ${job.error}`);
    return ms;
  } finally {
    qmp?.close();
    if (existsSync(pidFile)) process.kill(Number(readFileSync(pidFile, 'utf8').trim()), 'SIGKILL');
    nbd.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}
