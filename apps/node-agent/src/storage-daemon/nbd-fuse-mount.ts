import { execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** How long nbdfuse may take to connect and mount, and to exit once unmounted. */
const MOUNT_TIMEOUT_MS = 15_000;
const EXIT_TIMEOUT_MS = 10_000;
const POLL_MS = 50;
/** A busy mount point is tried again this many times, this far apart (5 s in all). */
const BUSY_ATTEMPTS = 20;
const BUSY_RETRY_MS = 250;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The FUSE mounts of this host, by mount point (/proc/self/mountinfo's fifth field, octal escapes undone). */
function fuseMountPoints(): Set<string> {
  const points = new Set<string>();
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [before, after] = line.split(' - ');
    if (!after?.startsWith('fuse ')) continue;
    const point = before.split(' ')[4];
    if (point) points.add(point.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8))));
  }
  return points;
}

/** The pid in a pid file while that process is still the nbdfuse serving `file` (a reboot reuses pids). */
function nbdfusePid(pidFile: string, file: string): number | undefined {
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    const commandLine = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return commandLine[0]?.endsWith('nbdfuse') && commandLine.includes(file) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A regular file showing an NBD export's bytes, mounted over it by nbdfuse (libnbd): the raw file of a volume that
 * still fills from its snapshot. QEMU 7.2's own FUSE export answers each request in the daemon's main loop, so a read
 * waiting for a block from Swift would stall the daemon's monitor (and every other volume's snapshot, attach and
 * detach); nbdfuse waits in its own threads while the daemon's NBD server waits in a coroutine.
 *
 * nbdfuse runs detached from the agent (its own session, a pid file), like the storage daemon: a restarted agent
 * finds it serving. Only root may open the file (mode 0600, enforced by the kernel); `allow_other` lets root's
 * processes other than nbdfuse's own (the loop driver, a hypervisor run as root) open it.
 */
export class NbdFuseMount {
  constructor(
    readonly file: string,
    private readonly pidFile: string,
    readonly logFile: string,
  ) {}

  /** True while nbdfuse serves the file. */
  get serving(): boolean {
    return nbdfusePid(this.pidFile, this.file) !== undefined && fuseMountPoints().has(this.file);
  }

  /** Mounts the export over the file (idempotent); a mount left by an nbdfuse that died is cleared first. */
  async mount(nbdUri: string): Promise<void> {
    if (this.serving) return;
    await this.clearStaleMount();
    closeSync(openSync(this.file, 'a', 0o600));
    rmSync(this.pidFile, { force: true });
    const log = openSync(this.logFile, 'a', 0o600);
    let exited: string | undefined;
    try {
      const child = spawn('nbdfuse', ['-o', 'allow_other', '-o', 'default_permissions', '-o', 'umask=0177', '-P', this.pidFile, this.file, nbdUri], {
        detached: true,
        stdio: ['ignore', log, log],
      });
      child.on('error', (error) => (exited = error.message));
      child.on('exit', (code, signal) => (exited = `exited with ${signal ?? `code ${code}`}`));
      child.unref();
    } finally {
      closeSync(log);
    }
    const deadline = Date.now() + MOUNT_TIMEOUT_MS;
    while (!this.serving) {
      if (exited || Date.now() > deadline) {
        const reason = exited ?? `did not mount within ${MOUNT_TIMEOUT_MS / 1000} s`;
        await this.unmount().catch(() => undefined);
        throw new Error(`nbdfuse serving ${nbdUri} at ${this.file} ${reason}: ${this.logTail()}`);
      }
      await sleep(POLL_MS);
    }
  }

  /**
   * Unmounts the file and waits for nbdfuse to exit, having answered what was in flight (idempotent). Refused while a
   * process still has the file open (a loop device is detached before).
   */
  async unmount(): Promise<void> {
    // a loop device just detached may hold the file for a moment longer: "target is busy" is retried for a while
    for (let attempt = 1; fuseMountPoints().has(this.file); attempt++) {
      const refused = await run('umount', [this.file]).then(
        () => undefined,
        (error: Error & { stderr?: string }) => (error.stderr ?? error.message).trim(),
      );
      if (refused === undefined) break;
      if (!/busy/i.test(refused) || attempt >= BUSY_ATTEMPTS) throw new Error(`cannot unmount ${this.file}: ${refused}`);
      await sleep(BUSY_RETRY_MS);
    }
    const deadline = Date.now() + EXIT_TIMEOUT_MS;
    for (let pid = nbdfusePid(this.pidFile, this.file); pid !== undefined; pid = nbdfusePid(this.pidFile, this.file)) {
      if (Date.now() > deadline) process.kill(pid, 'SIGKILL');
      await sleep(POLL_MS);
    }
    rmSync(this.pidFile, { force: true });
  }

  /** After an nbdfuse killed or crashed, its mount point answers "Transport endpoint is not connected" until unmounted. */
  private async clearStaleMount(): Promise<void> {
    const pid = nbdfusePid(this.pidFile, this.file);
    if (pid !== undefined) process.kill(pid, 'SIGTERM');
    if (fuseMountPoints().has(this.file)) await run('umount', ['--lazy', this.file]);
  }

  private logTail(): string {
    if (!existsSync(this.logFile)) return '(no output)';
    const lines = readFileSync(this.logFile, 'utf8').trim().split('\n');
    return lines.slice(-5).join(' | ') || '(no output)';
  }
}
