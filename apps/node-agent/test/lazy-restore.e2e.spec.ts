import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GuestWriter, guestIo, IslandStack, localSwift, pollUntil, useIsland } from '@island/stack';

const run = promisify(execFile);
const MIB = 1 << 20;
const GIB = 1 << 30;
type Json = Record<string, unknown>;
type Fill = { status: string; percent: number; doneBytes: number; totalBytes: number; reason: string | null } | null;

/** The byte pattern block `index` of a test volume holds (0: a hole). */
const patternOf = (index: number, seed: number) => ((index * 7 + seed) % 251) + 1;

/** A guest's read through the NBD export, checked against the byte it must hold (qemu-io's `read -P`). */
async function guestReads(nbd: string, offset: number, length: number, pattern: number): Promise<void> {
  const { stdout } = await run('qemu-io', ['-f', 'raw', '-c', `read -P ${pattern} ${offset} ${length}`, nbd]).catch(
    (error: Error & { stdout?: string; stderr?: string }) => {
      throw new Error(`read of ${length} bytes at ${offset} through ${nbd} failed: ${error.stdout ?? ''}${error.stderr ?? ''}`);
    },
  );
  if (!stdout.includes(`read ${length}/${length} bytes`) || /Pattern verification failed/.test(stdout)) {
    throw new Error(`read of ${length} bytes at ${offset} through ${nbd}: ${stdout}`);
  }
}

/** Retries `check` until it passes (30 s at most): what a guest sees once the host serves its disk again. */
async function untilPasses(check: () => Promise<unknown>, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`${what}: not within 30 s: ${(error as Error).message}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/** The guest's whole disk through its NBD export, as qemu-img converts it to raw. */
async function diskThrough(nbd: string): Promise<Buffer> {
  const raw = join(tmpdir(), `lazy-${Date.now()}-${Math.random().toString(16).slice(2)}.raw`);
  try {
    await run('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', nbd, raw]);
    return readFileSync(raw);
  } finally {
    rmSync(raw, { force: true });
  }
}

/** What both stacks' tests do: snapshots of patterned blocks, and the volume's fill as the API shows it. */
function lazyHelpers(island: IslandStack, io: ReturnType<typeof guestIo>) {
  /** A snapshot of a volume of `size` whose listed blocks hold their pattern (every other block a hole). */
  async function snapshotWithBlocks(size: number, blocks: number[], seed: number): Promise<string> {
    const source = await io.createVolume(size);
    const path = await io.attach(source);
    for (const b of blocks) await io.write(path, b * MIB, Buffer.alloc(MIB, patternOf(b, seed)));
    const snapshot = await io.snapshot(source);
    return String(snapshot.id);
  }

  function fillOf(volumeId: string): Promise<Fill> {
    return island.request<Json>('GET', `/v1/volumes/${volumeId}`).then((r) => r.body.fill as Fill);
  }

  async function untilFilled(volumeId: string): Promise<Json> {
    return pollUntil<Json>(island, `/v1/volumes/${volumeId}`, (v) => v.fill === null, { what: `fill of ${volumeId}`, timeoutMs: 180_000 });
  }

  /** A volume made from a snapshot of `size` whose every block holds its pattern, attached with an export; and its bytes. */
  async function attachedFromSnapshot(size: number, seed: number, exportKind: 'nbd' | 'raw' | 'block' = 'nbd') {
    const blocks = Array.from({ length: size / MIB }, (_, b) => b);
    const snapshotId = await snapshotWithBlocks(size, blocks, seed);
    const model = Buffer.alloc(size);
    for (const b of blocks) model.fill(patternOf(b, seed), b * MIB, (b + 1) * MIB);
    const volumeId = await io.createVolume(size, { snapshotId });
    const volume = island.json('volume', 'attach', volumeId, '--host', island.host, '--export', exportKind, '--wait');
    return { volumeId, volume, connection: volume.connection as { nbd: string; raw: string; device: string; path: string }, model };
  }

  return { snapshotWithBlocks, fillOf, untilFilled, attachedFromSnapshot };
}

/** Attach of a large volume from a snapshot, on a stack whose snapshot server fetches at full speed. */
describe('lazy restore: time to first byte', () => {
  const island = useIsland({ env: { ISLAND_LAZY_RESTORE: '1' } });
  const io = guestIo(island);
  const { snapshotWithBlocks, fillOf, untilFilled, attachedFromSnapshot } = lazyHelpers(island, io);

  it('serves the first read of a 4 GiB volume seconds after the attach, with the right bytes, and ends as a standalone image', async () => {
    const blocks = [0, 1, 513, 2047, 3000, 4095];
    const snapshotId = await snapshotWithBlocks(4 * GIB, blocks, 3);
    const volumeId = await io.createVolume(4 * GIB, { snapshotId });

    const began = Date.now();
    const attached = island.request('POST', `/v1/volumes/${volumeId}/attach`, { host: island.host, export: 'nbd' });
    expect((await attached).status).toBe(202);
    const inUse = await pollUntil<Json>(island, `/v1/volumes/${volumeId}`, (v) => v.status === 'in-use', { what: 'attach', timeoutMs: 30_000 });
    const nbd = (inUse.connection as { nbd: string }).nbd;
    await guestReads(nbd, 3000 * MIB, 4096, patternOf(3000, 3));
    const firstByteMs = Date.now() - began;
    // the 2 s goal is measured by `npm run bench -- lazy-restore` (0.72 s for 1 GiB); here, beside the rest of the suite on
    // 2 shared cores (3.9 s seen), the bound only shows that nothing waits for the 4 GiB (a full restore takes ~80 s)
    expect(firstByteMs).toBeLessThan(10_000);

    // mostly holes, it may fill within a second or two: while it fills, the API and the CLI say so
    const during = await fillOf(volumeId);
    if (during) expect(during.status).toBe('filling');

    const filled = await untilFilled(volumeId);
    expect(filled.status).toBe('in-use');
    for (const b of blocks) await guestReads(nbd, b * MIB, MIB, patternOf(b, 3));
    await guestReads(nbd, 7 * MIB, MIB, 0);

    // the image no longer depends on Swift: no backing file, clean
    const path = (filled.connection as { path: string }).path;
    const info = JSON.parse(execFileSync('qemu-img', ['info', '-U', '--output=json', path]).toString()) as Json;
    expect(info['backing-filename']).toBeUndefined();
    island.json('volume', 'detach', volumeId, '--wait');
    execFileSync('qemu-img', ['check', path]);

    // its next snapshot restores bit-exact
    const again = await io.snapshot(volumeId);
    const clone = await io.createVolume(4 * GIB, { snapshotId: String(again.id) });
    const clonePath = await io.attach(clone);
    for (const b of blocks) {
      const { stdout } = await run('qemu-io', ['-f', 'qcow2', '-r', '-c', `read -P ${patternOf(b, 3)} ${b * MIB} ${MIB}`, clonePath]);
      expect(stdout).not.toMatch(/Pattern verification failed/);
    }
  }, 300_000);

  it('keeps every guest write through snapshots taken one after another while a fast fill ends', async () => {
    // Two faults lived here: qemu-storage-daemon (7.2 and 10.0) segfaulted when asked for its named nodes once the fill
    // job had completed, and a snapshot taken before that job was dismissed failed ("Need a root block node")
    const { volumeId, connection, model } = await attachedFromSnapshot(32 * MIB, 5);
    const nbd = connection.nbd;

    const guest = new GuestWriter(nbd); // a connection opened while the fill runs
    const CHUNK = 64 * 1024;
    let writing = true;
    let writes = 0;
    const writer = (async () => {
      while (writing) {
        const chunk = (writes * 37) % ((32 * MIB) / CHUNK);
        const pattern = 100 + (writes % 100);
        await guest.write(chunk * CHUNK, CHUNK, pattern);
        model.fill(pattern, chunk * CHUNK, (chunk + 1) * CHUNK);
        writes++;
      }
    })();
    let snapshotsAfterFill = 0;
    try {
      while (snapshotsAfterFill < 3) {
        const filled = (await fillOf(volumeId)) === null;
        await io.snapshot(volumeId);
        if (filled) snapshotsAfterFill++;
      }
    } finally {
      writing = false;
      await writer.finally(() => guest.close());
    }
    expect(writes).toBeGreaterThan(0);
    await guestReads(nbd, 0, CHUNK, model[0]);
    expect((await diskThrough(nbd)).equals(model)).toBe(true);
    island.json('volume', 'detach', volumeId, '--wait');
    execFileSync('qemu-img', ['check', connection.path]);
  }, 300_000);
});

/**
 * A volume made from a snapshot and attached with an export is served at once: the host's qemu-storage-daemon reads
 * missing blocks through the agent's snapshot server (from Swift) and fills the image behind the guest; a real NBD
 * client (qemu-io) is the guest. The fetches are slowed (ISLAND_INJECT_DELAYS_MS) so that the fill is still running
 * while the guest reads and writes, and while the agent is killed.
 */
describe('lazy restore: a volume from a snapshot is usable at once and fills in the background', () => {
  const island = useIsland({ env: { ISLAND_LAZY_RESTORE: '1', ISLAND_INJECT_DELAYS_MS: 'snapshot-server.fetch=3000-3000' } });
  const io = guestIo(island);
  const { snapshotWithBlocks, fillOf, untilFilled, attachedFromSnapshot } = lazyHelpers(island, io);

  /** A 64 MiB snapshot with every block patterned, a volume made from it, attached over NBD (filling). */
  async function fillingVolume(seed: number): Promise<{ volumeId: string; nbd: string; path: string; model: Buffer }> {
    const { volumeId, connection, model } = await attachedFromSnapshot(64 * MIB, seed);
    return { volumeId, nbd: connection.nbd, path: connection.path, model };
  }

  it('answers random reads and writes during the fill as a model predicts, and never copies over what the guest wrote', async () => {
    const { volumeId, nbd, model } = await fillingVolume(11);
    expect((await fillOf(volumeId))?.status).toBe('filling');
    expect(island.cli('volume', 'show', volumeId).stdout).toMatch(/restoring \d+ % \(.* local; the rest is read from the snapshot on first use\)/);
    const guest = new GuestWriter(nbd);
    const CHUNK = 64 * 1024;
    let midFill: { snapshot: Json; content: Buffer } | undefined;
    let seed = 12345;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    try {
      for (let i = 0; i < 24; i++) {
        const chunk = random((64 * MIB) / CHUNK);
        const pattern = 200 + (i % 50);
        await guest.write(chunk * CHUNK, CHUNK, pattern);
        model.fill(pattern, chunk * CHUNK, (chunk + 1) * CHUNK);
        const probe = random((64 * MIB) / CHUNK) * CHUNK;
        await guestReads(nbd, probe, CHUNK, model[probe]);
        if (i === 11) {
          expect((await fillOf(volumeId))?.status).toBe('filling'); // the first half, and the snapshot, while the fill runs
          midFill = { snapshot: await io.snapshot(volumeId), content: Buffer.from(model) };
        }
      }
    } finally {
      await guest.close();
    }
    await untilFilled(volumeId);
    expect((await diskThrough(nbd)).equals(model)).toBe(true);
    // a snapshot taken while it filled holds the guest's disk at that instant: local blocks and the snapshot's others
    const clone = await io.createVolume(64 * MIB, { snapshotId: String(midFill!.snapshot.id) });
    expect((await io.read(await io.attach(clone))).equals(midFill!.content)).toBe(true);
  }, 300_000);

  it('goes on through a kill -9 of the agent mid-fill: the guest sees no error and the fill completes', async () => {
    const { volumeId, nbd, path, model } = await fillingVolume(23);
    await pollUntil<Json>(island, `/v1/volumes/${volumeId}`, (v) => ((v.fill as Fill)?.doneBytes ?? 0) > 0, { what: 'fill progress', timeoutMs: 60_000 });
    await island.crash('agent');
    // a read of a block not yet local, while no snapshot server runs: it waits for the reconnect
    const late = guestReads(nbd, 62 * MIB, MIB, model[62 * MIB]);
    await new Promise((r) => setTimeout(r, 2_000));
    await island.revive('agent');
    await late;
    const filled = await untilFilled(volumeId);
    expect(filled.status).toBe('in-use');
    expect((await diskThrough(nbd)).equals(model)).toBe(true);
    const info = JSON.parse(execFileSync('qemu-img', ['info', '-U', '--output=json', path]).toString()) as Json;
    expect(info['backing-filename']).toBeUndefined();
  }, 300_000);

  it('detaches and deletes a volume while it fills: the volume and its image are gone, the snapshot server forgets it', async () => {
    const { volumeId, path } = await fillingVolume(31);
    const detached = island.json('volume', 'detach', volumeId, '--wait');
    expect(detached.status).toBe('available');
    expect((detached.fill as Fill)?.status).toBe('filling'); // the daemon goes on filling the detached image
    expect(island.cli('volume', 'attach', volumeId, '--host', island.host).stderr).toMatch(
      /still filling from its snapshot \(\d+ %\); attach it with --export nbd, raw or block \(the fill goes on\), or in file mode once it is filled/,
    );
    await io.deleteVolume(volumeId);
    await pollUntil<Json>(island, '/v1/volumes', () => !existsSync(path), { what: 'the image removed', timeoutMs: 30_000 });
    expect(readdirSync(join(island.dataDir, 'fills')).filter((f) => f.startsWith(volumeId))).toEqual([]);
  }, 300_000);

  it("serves a filling volume as a block device (Cinder's default) while the daemon stays free for other volumes and the agent restarts", async () => {
    // seed 42: none of its blocks is one of the damaged test's (seed 41), which must upload its own
    const { volumeId, volume, connection, model } = await attachedFromSnapshot(64 * MIB, 42, 'block');
    expect(volume.status).toBe('in-use');
    expect((volume.fill as Fill)?.status).toBe('filling');
    const { device, raw } = connection;
    expect(device).toMatch(/^\/dev\/loop\d+$/);
    const readBlock = (b: number) =>
      run('dd', [`if=${device}`, 'bs=1M', `skip=${b}`, 'count=1', 'iflag=direct', 'status=none'], { encoding: 'buffer', maxBuffer: 2 * MIB }).then((r) =>
        Buffer.from(r.stdout),
      );

    // blocks at the end are fetched last by the fill (3 s each here): each read waits for the snapshot server, and
    // meanwhile another volume is attached and detached through the same storage daemon
    let readsDone = false;
    const lateReads = (async () => {
      for (const b of [63, 62, 61, 60]) {
        const data = await readBlock(b);
        if (!data.equals(model.subarray(b * MIB, (b + 1) * MIB))) throw new Error(`block ${b} read through ${device} differs from the snapshot`);
      }
      readsDone = true;
    })();
    await new Promise((r) => setTimeout(r, 300));
    const other = await io.createVolume(8 * MIB);
    island.json('volume', 'attach', other, '--host', island.host, '--export', 'nbd', '--wait');
    island.json('volume', 'detach', other, '--wait');
    expect(readsDone).toBe(false);
    // nbdfuse runs apart from the agent: a kill -9 of the agent leaves the device served, the waiting reads reconnect
    await island.crash('agent');
    await new Promise((r) => setTimeout(r, 1_000));
    await island.revive('agent');
    await lateReads;

    // a write through the device, then a detach while the fill goes on: nothing of the export is left on the host
    const written = Buffer.alloc(MIB, 0xa5);
    execFileSync('dd', [`of=${device}`, 'bs=1M', 'seek=50', 'count=1', 'iflag=fullblock', 'oflag=direct', 'conv=fsync', 'status=none'], { input: written });
    model.fill(0xa5, 50 * MIB, 51 * MIB);
    const detached = island.json('volume', 'detach', volumeId, '--wait');
    expect(detached.status).toBe('available');
    expect(execFileSync('losetup', ['--list', '--noheadings', '--output', 'BACK-FILE']).toString()).not.toContain(raw);
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(raw);
    expect(existsSync(raw)).toBe(false);

    await untilFilled(volumeId);
    expect((await io.read(await io.attach(volumeId))).equals(model)).toBe(true);
  }, 300_000);

  it('serves its volumes again after a host reboot: the same NBD URI and loop device, the guest writes kept, fills resumed, a detached one filled', async () => {
    // seeds 51-53: none of their blocks is one of the damaged test's (seed 41), which must upload its own. The snapshots
    // come first, then the three attaches back to back: each fill (~24 s here) must still run at the reboot
    const allBlocks = Array.from({ length: 64 }, (_, b) => b);
    const snapshots = [];
    for (const seed of [51, 52, 53]) snapshots.push({ seed, id: await snapshotWithBlocks(64 * MIB, allBlocks, seed) });
    const attach = async ({ seed, id }: { seed: number; id: string }, kind: 'nbd' | 'block') => {
      const model = Buffer.alloc(64 * MIB);
      for (const b of allBlocks) model.fill(patternOf(b, seed), b * MIB, (b + 1) * MIB);
      const volumeId = await io.createVolume(64 * MIB, { snapshotId: id });
      const volume = island.json('volume', 'attach', volumeId, '--host', island.host, '--export', kind, '--wait');
      return { volumeId, model, connection: volume.connection as { nbd: string; raw: string; device: string } };
    };
    const overNbd = await attach(snapshots[0], 'nbd');
    const asBlock = await attach(snapshots[1], 'block');
    const detached = await attach(snapshots[2], 'nbd');
    expect(island.json('volume', 'detach', detached.volumeId, '--wait').status).toBe('available');
    const guest = new GuestWriter(overNbd.connection.nbd);
    try {
      await guest.write(5 * MIB, 64 * 1024, 0xee);
    } finally {
      await guest.close();
    }
    overNbd.model.fill(0xee, 5 * MIB, 5 * MIB + 64 * 1024);
    const { device, raw } = asBlock.connection;
    for (const v of [overNbd.volumeId, asBlock.volumeId, detached.volumeId]) expect((await fillOf(v))?.status).toBe('filling');

    // the reboot: the agent, the storage daemon and nbdfuse die, the mounts and loop devices go
    await island.crash('agent');
    island.loseStorageDaemon();
    await expect(guestReads(overNbd.connection.nbd, 5 * MIB, 4096, 0xee)).rejects.toThrow();
    expect(execFileSync('losetup', ['--list', '--noheadings', '--output', 'BACK-FILE']).toString()).not.toContain(raw);
    await island.revive('agent');

    // served again where the guests left them, without anyone attaching again
    await untilPasses(() => guestReads(overNbd.connection.nbd, 5 * MIB, 64 * 1024, 0xee), 'the NBD export served again');
    await untilPasses(async () => {
      const listed = execFileSync('losetup', ['--list', '--noheadings', '--output', 'NAME,BACK-FILE']).toString();
      if (!listed.split('\n').some((line) => line.trim() === `${device} ${raw}`)) throw new Error(`${device} is not over ${raw}: ${listed}`);
    }, 'the same loop device over the raw file');
    const wholeDevice = await run('dd', [`if=${device}`, 'bs=1M', 'iflag=direct', 'status=none'], { encoding: 'buffer', maxBuffer: 65 * MIB });
    expect(Buffer.from(wholeDevice.stdout).equals(asBlock.model)).toBe(true);

    for (const v of [overNbd.volumeId, asBlock.volumeId, detached.volumeId]) await untilFilled(v);
    expect((await diskThrough(overNbd.connection.nbd)).equals(overNbd.model)).toBe(true);
    expect((await io.read(await io.attach(detached.volumeId))).equals(detached.model)).toBe(true);
    expect(island.logs()).toMatch(/volume [0-9a-f-]+ was not served \(the storage daemon had let it go\): served again as nbd\+unix/);
    expect(island.logs()).toMatch(/was filling, detached, when the storage daemon let it go: its fill goes on/);
  }, 300_000);

  it('mounts the raw file of a filling volume again when its nbdfuse is killed under the guest', async () => {
    // seed 56: none of its blocks is one of the damaged test's (seed 41)
    const { volumeId, connection, model } = await attachedFromSnapshot(64 * MIB, 56, 'raw');
    const { raw } = connection;
    const pidFile = join(island.dataDir, 'exports', `${volumeId}.nbdfuse.pid`);
    const killed = Number(readFileSync(pidFile, 'utf8').trim());
    process.kill(killed, 'SIGKILL');
    await untilPasses(async () => {
      if (existsSync(`/proc/${killed}`)) throw new Error(`nbdfuse ${killed} still runs`);
    }, 'the nbdfuse killed');
    await untilPasses(async () => {
      const first = await run('dd', [`if=${raw}`, 'bs=1M', 'count=1', 'status=none'], { encoding: 'buffer', maxBuffer: 2 * MIB });
      if (!Buffer.from(first.stdout).equals(model.subarray(0, MIB))) throw new Error(`the first block read through ${raw} differs from the snapshot`);
    }, 'the raw file served again');
    expect(Number(readFileSync(pidFile, 'utf8').trim())).not.toBe(killed);
    // the agent logs once its export call returns, which is after nbdfuse serves the file; its output reaches us later still
    await untilPasses(async () => {
      expect(island.logs()).toMatch(new RegExp(`volume ${volumeId} was not served \\(its export had stopped\\): served again as ${raw}`));
    }, 'the agent said it served the volume again');
    await untilFilled(volumeId);
    expect(readFileSync(raw).equals(model)).toBe(true);
    island.json('volume', 'detach', volumeId, '--wait');
  }, 300_000);

  it('fails a read of a block Swift holds damaged with an I/O error, and the fill with a reason naming the block', async () => {
    const before = await island.swiftObjects('blocks/');
    const snapshotId = await snapshotWithBlocks(8 * MIB, [0, 1, 2, 3, 4, 5, 6, 7], 41);
    const added = [...(await island.swiftObjects('blocks/')).keys()].filter((name) => !before.has(name));
    expect(added).toHaveLength(8);
    const swift = localSwift('RegionOne');
    try {
      for (const name of added) {
        const object = await swift.getObject(island.container, name);
        object[object.length - 1] ^= 0xff;
        await swift.putObject(island.container, name, object);
      }
    } finally {
      await swift.close();
    }
    const volumeId = await io.createVolume(8 * MIB, { snapshotId });
    const volume = island.json('volume', 'attach', volumeId, '--host', island.host, '--export', 'nbd', '--wait');
    const nbd = (volume.connection as { nbd: string }).nbd;
    await expect(guestReads(nbd, 3 * MIB, 4096, patternOf(3, 41))).rejects.toThrow(/Input\/output error/);
    const failed = await pollUntil<Json>(island, `/v1/volumes/${volumeId}`, (v) => (v.fill as Fill)?.status === 'failed', {
      what: 'the failed fill',
      timeoutMs: 120_000,
    });
    expect((failed.fill as Fill)?.reason).toMatch(
      /could not be filled from its snapshot: block \d+ of manifests\/.* could not be read: .*does not authenticate/,
    );
    expect(failed.status).toBe('in-use');
    expect(island.cli('volume', 'show', volumeId).stdout).toMatch(/restore failed at \d+ %/);
  }, 300_000);
});
