import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IslandConfig } from '@island/config';
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
});
