import { ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const SERVICES = join(__dirname, '..', '..', '..', 'scripts', 'services.sh');

/** A long-lived process whose command line holds `marker` (bash -c with a second command is not replaced by exec). */
function processNaming(marker: string): ChildProcess {
  return spawn('bash', ['-c', 'sleep 60; true', marker], { stdio: 'ignore' });
}

const alive = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;

describe('scripts/services.sh and pid files that outlived a reboot', () => {
  let dir: string;
  const children: ChildProcess[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'island-services-'));
  });
  afterEach(() => {
    for (const child of children.splice(0)) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('stops the processes its pid files were written for and leaves alone other processes that now hold those pids', async () => {
    const region = join(dir, 'swift', 'RegionOne');
    mkdirSync(join(region, 'run'), { recursive: true });
    mkdirSync(join(dir, 'run'));
    // after a reboot an old pid may belong to anything: CI's own shell once took a SIGTERM meant for Swift's proxy
    const stranger = processNaming('unrelated');
    const proxy = processNaming(join(region, 'etc', 'proxy-server.conf'));
    const memcachedPidFile = join(dir, 'run', 'memcached-11211.pid');
    const memcached = processNaming(`-P ${memcachedPidFile}`);
    children.push(stranger, proxy, memcached);
    writeFileSync(join(region, 'run', 'proxy-server.pid'), `${proxy.pid}\n`);
    writeFileSync(join(region, 'run', 'object-server.pid'), `${stranger.pid}\n`);
    writeFileSync(join(region, 'run', 'proxy-keystone-server.pid'), `${stranger.pid}\n`);
    writeFileSync(memcachedPidFile, `${memcached.pid}\n`);

    const { stderr } = await promisify(execFile)('bash', [SERVICES, 'down'], { env: { ...process.env, ISLAND_SERVICES_DIR: dir } });

    expect(stderr).toContain('stopped Swift RegionOne');
    const ended = (child: ChildProcess) => new Promise((resolve) => (alive(child) ? child.once('exit', resolve) : resolve(null)));
    await Promise.all([ended(proxy), ended(memcached)]);
    expect(alive(stranger)).toBe(true);
    for (const file of ['proxy-server.pid', 'object-server.pid', 'proxy-keystone-server.pid']) expect(existsSync(join(region, 'run', file))).toBe(false);
    expect(existsSync(memcachedPidFile)).toBe(false);
  });
});
