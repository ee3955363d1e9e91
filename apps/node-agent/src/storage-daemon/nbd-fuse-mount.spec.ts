import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NbdFuseMount } from './nbd-fuse-mount';

const MIB = 1 << 20;

const mounted = (file: string) => readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${file} `);

/** Whether a process still runs: an exited child stays a zombie (state Z) until Node reaps it, a moment later. */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

describe('NbdFuseMount with the real nbdfuse and an NBD server (qemu-nbd)', () => {
  let dir: string;
  let server: ChildProcess;
  let socket: string;
  let content: Buffer;
  let mount: NbdFuseMount;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'nbdfuse-'));
    content = randomBytes(4 * MIB);
    writeFileSync(join(dir, 'disk.img'), content);
    socket = join(dir, 'nbd.sock');
    server = spawn('qemu-nbd', ['--socket', socket, '--format', 'raw', '--persistent', '--shared', '8', '--export-name', 'vol', join(dir, 'disk.img')], {
      stdio: 'ignore',
    });
    for (let i = 0; i < 100 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 50));
    mount = new NbdFuseMount(join(dir, 'vol.raw'), join(dir, 'vol.pid'), join(dir, 'vol.log'));
  });

  afterEach(async () => {
    await mount.unmount().catch(() => execFileSync('umount', ['--lazy', mount.file]));
    server.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('shows the export as a file only root may open, and lets it go when unmounted', async () => {
    await mount.mount(`nbd+unix:///vol?socket=${socket}`);
    expect(mount.serving).toBe(true);
    expect(readFileSync(mount.file).equals(content)).toBe(true);
    expect(statSync(mount.file).mode & 0o777).toBe(0o600);

    const written = randomBytes(MIB);
    execFileSync('dd', [`of=${mount.file}`, 'bs=1M', 'seek=2', 'conv=notrunc,fsync', 'status=none'], { input: written });
    expect(
      readFileSync(join(dir, 'disk.img'))
        .subarray(2 * MIB, 3 * MIB)
        .equals(written),
    ).toBe(true);

    const pid = Number(readFileSync(join(dir, 'vol.pid'), 'utf8'));
    await mount.unmount();
    expect(mounted(mount.file)).toBe(false);
    expect(running(pid)).toBe(false);
    expect(existsSync(join(dir, 'vol.pid'))).toBe(false);
  });

  it('refuses to unmount while a process holds the file open, and goes on serving it', async () => {
    await mount.mount(`nbd+unix:///vol?socket=${socket}`);
    const fd = openSync(mount.file, 'r');
    try {
      await expect(mount.unmount()).rejects.toThrow(new RegExp(`cannot unmount ${mount.file}: .*busy`));
      expect(mount.serving).toBe(true);
    } finally {
      closeSync(fd);
    }
    await mount.unmount();
    expect(mounted(mount.file)).toBe(false);
  }, 30_000);

  it('mounts again over the dead mount an nbdfuse killed with -9 leaves', async () => {
    await mount.mount(`nbd+unix:///vol?socket=${socket}`);
    process.kill(Number(readFileSync(join(dir, 'vol.pid'), 'utf8')), 'SIGKILL');
    for (let i = 0; i < 100 && mount.serving; i++) await new Promise((r) => setTimeout(r, 20));
    expect(mount.serving).toBe(false);
    expect(mounted(mount.file)).toBe(true); // "Transport endpoint is not connected"

    await mount.mount(`nbd+unix:///vol?socket=${socket}`);
    expect(mount.serving).toBe(true);
    expect(readFileSync(mount.file).equals(content)).toBe(true);
  });

  it('fails with what nbdfuse said when the export does not exist, and leaves nothing mounted or running', async () => {
    await expect(mount.mount(`nbd+unix:///missing?socket=${socket}`)).rejects.toThrow(
      new RegExp(`nbdfuse serving nbd\\+unix:///missing\\?socket=${socket.replace(/[.]/g, '\\.')} at ${mount.file} exited with code 1: .*missing`),
    );
    expect(mounted(mount.file)).toBe(false);
    expect(mount.serving).toBe(false);
  });
});
