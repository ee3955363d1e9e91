import { execFileSync, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IslandConfig } from '@island/config';
import { fuseMountPoints } from '@island/platform';
import { StorageDaemon } from './storage-daemon';

describe('StorageDaemon on the real qemu-storage-daemon', () => {
  let dataDir: string;
  let daemon: StorageDaemon;

  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'qsd-'));
    daemon = new StorageDaemon({ host: { dataDir } } as IslandConfig);
  });
  afterEach(() => {
    daemon.onModuleDestroy();
    const pid = Number(readFileSync(join(dataDir, 'qsd', 'qsd.pid'), 'utf8').trim());
    if (pid !== process.pid) process.kill(pid, 'SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('starts its own daemon when the pid file left by a reboot names a process that is not the daemon', async () => {
    // after a reboot the old pid may be any live process (here: Jest's own), and the old socket file is still there
    mkdirSync(join(dataDir, 'qsd'));
    writeFileSync(join(dataDir, 'qsd', 'qsd.pid'), `${process.pid}\n`);
    writeFileSync(daemon.qmpSocket, '');

    expect(await daemon.holds('v1')).toBe(false);

    const image = join(dataDir, 'v1.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', image, '1M']);
    expect(await daemon.export('v1', image, 'nbd')).toEqual({ nbd: daemon.nbdUri('v1') });
    expect(await daemon.holds('v1')).toBe(true);
    const newPid = Number(readFileSync(join(dataDir, 'qsd', 'qsd.pid'), 'utf8').trim());
    expect(newPid).not.toBe(process.pid);
    expect(readFileSync(`/proc/${newPid}/cmdline`, 'utf8')).toContain('qemu-storage-daemon');

    // and a restarted agent finds that daemon by the same pid file (the monitor takes one client at a time)
    daemon.onModuleDestroy();
    const restarted = new StorageDaemon({ host: { dataDir } } as IslandConfig);
    try {
      expect(await restarted.holds('v1')).toBe(true);
    } finally {
      restarted.onModuleDestroy();
    }
  });

  it('lets go of a block export whose nbdfuse was killed, loop device included, and serves it again with a new one', async () => {
    const image = join(dataDir, 'v2.qcow2');
    const content = randomBytes(1 << 20);
    writeFileSync(join(dataDir, 'v2.bin'), content);
    execFileSync('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'qcow2', join(dataDir, 'v2.bin'), image]);
    execFileSync('qemu-img', ['resize', '-q', image, '2M']); // its second MiB is read only once nbdfuse is dead
    // an NBD export left on the node (here: an earlier attach) makes the file nbdfuse's, as a fill does
    await daemon.export('v2', image, 'nbd');
    const first = await daemon.export('v2', image, 'block');
    const device = String(first.device);
    expect(fuseMountPoints().has(daemon.rawPath('v2'))).toBe(true);
    expect(execFileSync('dd', [`if=${device}`, 'bs=1M', 'count=1', 'iflag=direct', 'status=none']).equals(content)).toBe(true);

    process.kill(Number(readFileSync(join(dataDir, 'exports', 'v2.nbdfuse.pid'), 'utf8')), 'SIGKILL');
    await new Promise((r) => setTimeout(r, 200));
    expect(() => execFileSync('dd', [`if=${device}`, 'bs=4k', 'skip=300', 'count=1', 'iflag=direct', 'status=none'], { stdio: 'pipe' })).toThrow();

    // attached again: the dead mount and its loop device go, a new mount and device serve the same bytes
    const again = await daemon.export('v2', image, 'block');
    expect(execFileSync('dd', [`if=${String(again.device)}`, 'bs=1M', 'count=1', 'iflag=direct', 'status=none']).equals(content)).toBe(true);
    expect(
      execFileSync('losetup', ['--list', '--noheadings', '--output', 'BACK-FILE'])
        .toString()
        .split('\n')
        .filter((l) => l.trim() === daemon.rawPath('v2')),
    ).toHaveLength(1);

    // and detached after another kill: nothing is left on the host
    process.kill(Number(readFileSync(join(dataDir, 'exports', 'v2.nbdfuse.pid'), 'utf8')), 'SIGKILL');
    await new Promise((r) => setTimeout(r, 200));
    await daemon.unexport('v2');
    expect(execFileSync('losetup', ['--list', '--noheadings', '--output', 'BACK-FILE']).toString()).not.toContain(daemon.rawPath('v2'));
    expect(fuseMountPoints().has(daemon.rawPath('v2'))).toBe(false);
    expect(existsSync(daemon.rawPath('v2'))).toBe(false);
    expect(await daemon.holds('v2')).toBe(false);
  }, 60_000);

  it('gives a volume its loop device back after a reboot, and another volume exported first a different one', async () => {
    const contents = { a: randomBytes(1 << 20), b: randomBytes(1 << 20) };
    const images = { a: join(dataDir, 'a.qcow2'), b: join(dataDir, 'b.qcow2') };
    for (const v of ['a', 'b'] as const) {
      writeFileSync(join(dataDir, `${v}.bin`), contents[v]);
      execFileSync('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'qcow2', join(dataDir, `${v}.bin`), images[v]]);
    }
    const ids = { a: randomUUID(), b: randomUUID() }; // records are kept for volume ids only
    const readDevice = (device: string) => execFileSync('dd', [`if=${device}`, 'bs=1M', 'count=1', 'iflag=direct', 'status=none']);
    const deviceOfA = String((await daemon.export(ids.a, images.a, 'block')).device);

    // a reboot: the daemon, its FUSE mount and the loop device are gone; the records are what is left
    daemon.onModuleDestroy();
    process.kill(Number(readFileSync(join(dataDir, 'qsd', 'qsd.pid'), 'utf8').trim()), 'SIGKILL');
    await new Promise((r) => setTimeout(r, 200));
    execFileSync('losetup', ['--detach', deviceOfA]);
    execFileSync('umount', ['-l', daemon.rawPath(ids.a)]);
    daemon = new StorageDaemon({ host: { dataDir } } as IslandConfig);

    // b is attached before a is served again: a's device is the lowest free one, yet b must not get it
    const deviceOfB = String((await daemon.export(ids.b, images.b, 'block')).device);
    expect(deviceOfB).not.toBe(deviceOfA);
    expect((await daemon.export(ids.a, images.a, 'block')).device).toBe(deviceOfA);
    expect(readDevice(deviceOfA).equals(contents.a)).toBe(true);
    expect(readDevice(deviceOfB).equals(contents.b)).toBe(true);
    await daemon.unexport(ids.a);
    await daemon.unexport(ids.b);
    expect(execFileSync('losetup', ['--list', '--noheadings', '--output', 'BACK-FILE']).toString()).not.toContain(dataDir);
  }, 60_000);

  /** A snapshot of random bytes served read-only by qemu-nbd as export `name`, as the snapshot server would serve it. */
  async function servedSnapshot(name: string, bytes: number) {
    const file = join(dataDir, `${name}.snapshot`);
    writeFileSync(file, randomBytes(bytes));
    const socket = join(dataDir, `${name}.sock`);
    const server = spawn('qemu-nbd', ['-f', 'raw', '-r', '-x', name, '-k', socket, '--persistent', file], { stdio: 'ignore' });
    for (let waited = 0; !existsSync(socket) && waited < 5_000; waited += 50) await new Promise((r) => setTimeout(r, 50));
    return { file, socket, stop: () => server.kill('SIGKILL') };
  }

  async function fillEnded(volumeId: string): Promise<void> {
    for (let waited = 0; (await daemon.fillJob(volumeId))?.status !== 'concluded'; waited += 20) {
      if (waited > 20_000) throw new Error(`the fill of ${volumeId} did not end within 20 s`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  it('tells its listeners as soon as a fill job ends, so the image is seen filled without waiting for a poll', async () => {
    const snapshot = await servedSnapshot('v3', 4 << 20);
    try {
      const image = join(dataDir, 'v3.qcow2');
      execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', image, '4M']);
      const ended: number[] = [];
      const stop = daemon.onFillConcluded(() => ended.push(Date.now()));

      await daemon.export('v3', image, 'nbd', { socket: snapshot.socket });
      for (let waited = 0; ended.length === 0 && waited < 10_000; waited += 20) await new Promise((r) => setTimeout(r, 20));

      expect(ended).toHaveLength(1);
      const job = await daemon.fillJob('v3');
      expect(job?.status).toBe('concluded');
      expect(job?.error).toBeUndefined();
      stop();
      await daemon.dismissFill('v3');
      await daemon.releaseFilled('v3');
      await daemon.unexport('v3');
      expect(JSON.parse(execFileSync('qemu-img', ['info', '--output=json', image]).toString())['backing-filename']).toBeUndefined();
      expect(execFileSync('qemu-img', ['compare', '-q', '-f', 'qcow2', '-F', 'raw', image, snapshot.file]).length).toBe(0);
    } finally {
      snapshot.stop();
    }
  }, 30_000);

  it('fills an image of 1 MiB clusters without faulting in fresh memory for each cluster it copies', async () => {
    const bytes = 64 << 20;
    const snapshot = await servedSnapshot('v4', bytes);
    try {
      const started = join(dataDir, 'first.qcow2');
      execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', started, '1M']);
      await daemon.export('v0', started, 'nbd'); // the daemon runs before its faults are counted
      const pid = Number(readFileSync(join(dataDir, 'qsd', 'qsd.pid'), 'utf8').trim());
      const minorFaults = () => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[7]);
      const image = join(dataDir, 'v4.qcow2');
      execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', 'cluster_size=1M', image, String(bytes)]);

      const before = minorFaults();
      await daemon.export('v4', image, 'nbd', { socket: snapshot.socket });
      await fillEnded('v4');
      const faults = minorFaults() - before;

      // glibc's adaptive thresholds gave each 1 MiB bounce buffer fresh pages: one fault per 4 KiB copied (16384 here)
      expect(faults).toBeLessThan(bytes / 4096 / 4);
      expect((await daemon.fillJob('v4'))?.error).toBeUndefined();
      await daemon.dismissFill('v4');
      await daemon.releaseFilled('v4');
      await daemon.unexport('v4');
      await daemon.unexport('v0');
      expect(execFileSync('qemu-img', ['compare', '-q', '-f', 'qcow2', '-F', 'raw', image, snapshot.file]).length).toBe(0);
    } finally {
      snapshot.stop();
    }
  }, 60_000);
});
