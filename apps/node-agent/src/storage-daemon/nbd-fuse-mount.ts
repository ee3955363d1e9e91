import { ChildProcess, execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync } from 'node:fs';
import { promisify } from 'node:util';
import { fuseMountPoints } from '@island/platform';
import { pidFileProcess } from './pid-file';

const run = promisify(execFile);

/** How long nbdfuse may take to connect and mount, and to exit once unmounted or signalled. */
const MOUNT_TIMEOUT_MS = 15_000;
const EXIT_TIMEOUT_MS = 10_000;
const POLL_MS = 50;
/** A busy mount point is tried again this many times, this far apart (5 s in all). */
const BUSY_ATTEMPTS = 20;
const BUSY_RETRY_MS = 250;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // it exited in between
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
 * processes other than nbdfuse's own (the loop driver, a hypervisor run as root) open it. The pid file stays until
 * the mount is gone, so that a mount whose nbdfuse died is still known as this one's.
 */
export class NbdFuseMount {
  constructor(
    readonly file: string,
    private readonly pidFile: string,
    readonly logFile: string,
  ) {}

  /** True while nbdfuse serves the file. */
  get serving(): boolean {
    return this.pid() !== undefined && fuseMountPoints().has(this.file);
  }

  /** True when nbdfuse was started for the file and the mount has not been let go since (it may have died). */
  get present(): boolean {
    return existsSync(this.pidFile);
  }

  /** Mounts the export over the file (idempotent); a mount left by an nbdfuse that died is let go first. */
  async mount(nbdUri: string): Promise<void> {
    if (this.serving) return;
    if (this.present) await this.unmount();
    if (fuseMountPoints().has(this.file)) throw new Error(`${this.file} is already a FUSE mount not served by nbdfuse`);
    closeSync(openSync(this.file, 'a', 0o600));
    const log = openSync(this.logFile, 'a', 0o600);
    let child: ChildProcess;
    let exited: string | undefined;
    try {
      child = spawn('nbdfuse', ['-o', 'allow_other', '-o', 'default_permissions', '-o', 'umask=0177', '-P', this.pidFile, this.file, nbdUri], {
        detached: true,
        stdio: ['ignore', log, log],
      });
      child.on('error', (error) => (exited = error.message));
      child.on('exit', (code, signalName) => (exited = `exited with ${signalName ?? `code ${code}`}`));
      child.unref();
    } finally {
      closeSync(log);
    }
    const deadline = Date.now() + MOUNT_TIMEOUT_MS;
    while (!this.serving) {
      if (exited || Date.now() > deadline) {
        const reason = exited ?? `did not mount within ${MOUNT_TIMEOUT_MS / 1000} s`;
        // one that hangs connecting has written no pid file yet: it is ended through its handle
        if (!exited && child.pid !== undefined) signal(child.pid, 'SIGKILL');
        await this.unmount().catch(() => undefined);
        throw new Error(`nbdfuse serving ${nbdUri} at ${this.file} ${reason}: ${this.logTail()}`);
      }
      await sleep(POLL_MS);
    }
  }

  /**
   * Unmounts the file and waits for nbdfuse to exit, having answered what was in flight (idempotent). While nbdfuse
   * serves, refused as long as a process holds the file open (a loop device is detached before); the mount of an
   * nbdfuse that died answers nothing and is detached at once.
   */
  async unmount(): Promise<void> {
    if (fuseMountPoints().has(this.file) && this.pid() === undefined) {
      await run('umount', ['--lazy', this.file]);
    }
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
    await this.untilExited();
    rmSync(this.pidFile, { force: true });
  }

  /** Waits for nbdfuse to exit once unmounted; one that does not is killed, and one that outlives that is an error. */
  private async untilExited(): Promise<void> {
    const killAt = Date.now() + EXIT_TIMEOUT_MS;
    for (let pid = this.pid(); pid !== undefined; pid = this.pid()) {
      if (Date.now() > killAt + EXIT_TIMEOUT_MS) throw new Error(`nbdfuse (pid ${pid}) serving ${this.file} outlived its SIGKILL`);
      if (Date.now() > killAt) signal(pid, 'SIGKILL');
      await sleep(POLL_MS);
    }
  }

  private pid(): number | undefined {
    return pidFileProcess(this.pidFile, (argv) => argv[0].endsWith('nbdfuse') && argv.includes(this.file));
  }

  private logTail(): string {
    if (!existsSync(this.logFile)) return '(no output)';
    const lines = readFileSync(this.logFile, 'utf8').trim().split('\n');
    return lines.slice(-5).join(' | ') || '(no output)';
  }
}
