import { execFileSync } from 'node:child_process';
import { closeSync, constants, existsSync, openSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { directWritesAllowed } from '@island/qcow2';
import { guestIo, GuestWriter, pollUntil, useIsland } from '@island/stack';

const MIB = 1 << 20;
const KIB = 1024;
const SIZE = 16 * MIB;
/** Each write fills this much of one slot with its sequence number (as qemu-io's byte pattern, so ≤ 255). */
const WRITE = 64 * KIB;
type Json = Record<string, unknown>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The open flags of each of a process's descriptors for `path` (at least one: else it throws). */
function openFlags(pid: number, path: string): number[] {
  const target = (fd: string) => {
    try {
      return readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      return undefined; // closed since the listing (the daemon's sockets come and go)
    }
  };
  const fds = readdirSync(`/proc/${pid}/fd`).filter((fd) => target(fd) === path);
  if (fds.length === 0) throw new Error(`process ${pid} has ${path} open on no descriptor`);
  return fds.map((fd) => parseInt(/^flags:\s+([0-7]+)$/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'))?.[1] ?? '0', 8));
}

/** Waits until `holds` (30 s at most). */
async function waitFor(holds: () => boolean, what: string): Promise<void> {
  for (const deadline = Date.now() + 30_000; !holds(); await sleep(250)) {
    if (Date.now() > deadline) throw new Error(`${what}: not within 30 s`);
  }
}

/**
 * Attached volumes served by a real qemu-storage-daemon (the agent drives it over QMP) and written by a
 * real NBD client (qemu-io) while island snapshots them: every snapshot is one instant between its request
 * and its reply, a group is one instant across volumes, and the agent can die without the VM losing its disk.
 */
describe('live snapshots of volumes attached through qemu-storage-daemon', () => {
  const island = useIsland();
  const io = guestIo(island);

  /**
   * A volume the storage daemon serves; `disk` is what a VM's disk client opens: the NBD URI, the raw file
   * ('raw') or the loop device over it ('block').
   */
  async function exportedVolume(kind: 'nbd' | 'raw' | 'block' = 'nbd'): Promise<{ id: string; path: string; disk: string; raw?: string }> {
    const id = await io.createVolume(SIZE);
    const volume = island.json('volume', 'attach', id, '--host', island.host, '--export', kind, '--wait');
    const connection = volume.connection as { path: string; nbd?: string; raw?: string; device?: string };
    if (kind === 'nbd') {
      expect(connection.nbd).toMatch(/^nbd\+unix:\/\/\/[0-9a-f-]{36}\?socket=\//);
      return { id, path: connection.path, disk: connection.nbd! };
    }
    expect(connection.raw).toMatch(new RegExp(`/exports/${id}\\.raw$`));
    // the file shows the volume's bytes, not the qcow2 image
    expect(statSync(connection.raw!).size).toBe(SIZE);
    if (kind === 'raw') return { id, path: connection.path, disk: connection.raw!, raw: connection.raw };
    expect(statSync(connection.device!).isBlockDevice()).toBe(true);
    return { id, path: connection.path, disk: connection.device!, raw: connection.raw };
  }

  /**
   * A VM writing one volume: write s (1, 2, …) fills slot s mod `slots` with byte s; `acked` is the last
   * write acknowledged, `issued` the last one sent.
   */
  function sequentialWriter(writers: GuestWriter[], slots: number, last: number, pauseMs: number) {
    const state = { acked: 0, issued: 0 };
    const done = (async () => {
      for (let s = 1; s <= last; s++) {
        state.issued = s;
        // lockstep over several volumes: the same write to each, one after the other
        for (const w of writers) await w.write((s % slots) * MIB, WRITE, s);
        state.acked = s;
        await sleep(pauseMs);
      }
    })();
    return { state, done };
  }

  /** How many answers to diff jobs (`snapshot.diffed`) the agent has published. */
  async function diffsPublished(): Promise<number> {
    const metrics = await (await fetch(`http://127.0.0.1:${island.metricsPort('agent')}/metrics`)).text();
    return Number(/^island_messages_published_total\{contract="snapshot\.diffed\.v1"\} (\d+)$/m.exec(metrics)?.[1] ?? 0);
  }

  /** Asks for a snapshot (or a group) and returns when its point in time is taken, with the writer's bounds. */
  async function snapshotDuring(state: { acked: number; issued: number }, volumeIds: string[]) {
    const before = state.acked;
    const created =
      volumeIds.length === 1
        ? [(await island.request<Json>('POST', '/v1/snapshots', { volumeId: volumeIds[0] })).body]
        : ((await island.request<{ snapshots: Json[] }>('POST', '/v1/snapshots/groups', { volumeIds })).body.snapshots as Json[]);
    for (const s of created) {
      for (;;) {
        const now = (await island.request<Json>('GET', `/v1/snapshots/${String(s.id)}`)).body;
        if (now.status === 'error') throw new Error(`snapshot ${String(s.id)} failed: ${String(now.statusReason)}`);
        if (now.status !== 'creating') break;
        await sleep(10);
      }
    }
    return { ids: created.map((s) => String(s.id)), before, after: state.issued };
  }

  /** The byte every slot holds in a restored snapshot (each slot must be uniform: one write, whole). */
  async function slotsOf(snapshotId: string, slots: number): Promise<number[]> {
    await io.until<Json>(`/v1/snapshots/${snapshotId}`, (s) => s.status === 'available', `snapshot ${snapshotId}`);
    const clone = await io.createVolume(SIZE, { snapshotId });
    const content = await io.read(await io.attach(clone));
    await io.deleteVolume(clone);
    return Array.from({ length: slots }, (_, b) => {
      const slot = content.subarray(b * MIB, b * MIB + WRITE);
      expect(slot.every((x) => x === slot[0])).toBe(true);
      return slot[0];
    });
  }

  /** The k whose first k writes the slots show (every write ≤ k there, none after), or undefined. */
  function prefixShown(observed: number[]): number | undefined {
    const k = Math.max(...observed);
    const expected = observed.map((_, b) => {
      let s = k;
      while (s > 0 && s % observed.length !== b) s--;
      return s;
    });
    return expected.every((e, b) => e === observed[b]) ? k : undefined;
  }

  it('refuses island image write on an exported image, and serves the VM its writes', async () => {
    const volume = await exportedVolume();
    const refused = island.cli('image', 'write', volume.path, '--offset', '0', '--pattern', '0x11', '--length', '4K');
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/is in use by .*detach first/);
    // the daemon holds the image past the page cache where its file system allows it (libvirt's cache='none')
    const daemon = Number(readFileSync(join(island.dataDir, 'qsd', 'qsd.pid'), 'utf8').trim());
    expect(openFlags(daemon, volume.path).every((flags) => (flags & constants.O_DIRECT) !== 0)).toBe(await directWritesAllowed(dirname(volume.path)));
    const vm = new GuestWriter(volume.disk);
    await vm.write(0, WRITE, 0x5a);
    await vm.close();
    const detached = island.json('volume', 'detach', volume.id, '--wait');
    expect(detached).toMatchObject({ status: 'available', connection: null });
    // the image is the agent's again: clean, with what the VM wrote, writable by a file-mode writer
    execFileSync('qemu-img', ['check', volume.path]);
    const back = island.json('volume', 'attach', volume.id, '--host', island.host, '--wait');
    expect((back.connection as Json).nbd).toBeUndefined();
    expect((await io.read(volume.path)).subarray(0, WRITE).every((x) => x === 0x5a)).toBe(true);
    expect(island.cli('image', 'write', volume.path, '--offset', '0', '--pattern', '0x11', '--length', '4K').code).toBe(0);
  }, 120_000);

  it.each(['nbd', 'raw', 'block'] as const)(
    'takes crash-consistent snapshots while a VM keeps writing through the %s export: each shows every write acknowledged before the request and none issued after the reply',
    async (kind) => {
      const volume = await exportedVolume(kind);
      const vm = new GuestWriter(volume.disk);
      const slots = 16;
      const writer = sequentialWriter([vm], slots, 250, 6);
      const shots = [];
      for (const at of [25, 90, 160]) {
        while (writer.state.acked < at) await sleep(5);
        shots.push(await snapshotDuring(writer.state, [volume.id]));
      }
      await writer.done;
      await vm.close();
      for (const shot of shots) {
        const k = prefixShown(await slotsOf(shot.ids[0], slots));
        expect(k).toBeDefined();
        expect(k!).toBeGreaterThanOrEqual(shot.before);
        expect(k!).toBeLessThanOrEqual(shot.after);
      }
      const detached = island.json('volume', 'detach', volume.id, '--wait');
      expect(detached).toMatchObject({ status: 'available', connection: null });
      execFileSync('qemu-img', ['check', volume.path]);
      if (volume.raw) expect(existsSync(volume.raw)).toBe(false);
      if (kind === 'block')
        expect(execFileSync('losetup', ['--list', '--noheadings', '--output', 'NAME'], { encoding: 'utf8' })).not.toContain(`${volume.disk}\n`);
    },
    180_000,
  );

  it('asks the agent again when an exported volume is attached again (as Nova does on a reboot), and answers the same device', async () => {
    const volume = await exportedVolume('block');
    const again = island.json('volume', 'attach', volume.id, '--host', island.host, '--export', 'block', '--wait');
    expect(again).toMatchObject({ status: 'in-use', connection: { device: volume.disk, raw: volume.raw } });
    const attaches = await island.request<Json>('GET', `/v1/volumes/${volume.id}`);
    expect(attaches.body.status).toBe('in-use');
    island.json('volume', 'detach', volume.id, '--wait');
  }, 60_000);

  it('serves raw and block exports again when the storage daemon is killed under them: the file and the same loop device read what the VM wrote', async () => {
    const asRaw = await exportedVolume('raw');
    const asBlock = await exportedVolume('block');
    for (const volume of [asRaw, asBlock]) {
      const vm = new GuestWriter(volume.disk);
      await vm.write(2 * MIB, MIB, 0x5a);
      await vm.close();
    }
    const daemon = Number(readFileSync(join(island.dataDir, 'qsd', 'qsd.pid'), 'utf8').trim());
    process.kill(daemon, 'SIGKILL');
    await waitFor(() => !existsSync(`/proc/${daemon}`), 'the storage daemon killed');
    const readAt = (disk: string) => {
      try {
        return execFileSync('dd', [`if=${disk}`, 'bs=1M', 'skip=2', 'count=1', 'iflag=direct', 'status=none'], {
          maxBuffer: 2 * MIB,
          stdio: ['ignore', 'pipe', 'ignore'],
        });
      } catch {
        return undefined; // nothing serves it yet
      }
    };
    for (const disk of [asRaw.disk, asBlock.disk]) {
      await waitFor(() => readAt(disk)?.equals(Buffer.alloc(MIB, 0x5a)) === true, `${disk} served again with what the VM wrote`);
    }
    expect(Number(readFileSync(join(island.dataDir, 'qsd', 'qsd.pid'), 'utf8').trim())).not.toBe(daemon);
    for (const volume of [asRaw, asBlock]) {
      expect(island.json('volume', 'detach', volume.id, '--wait')).toMatchObject({ status: 'available' });
      execFileSync('qemu-img', ['check', volume.path]);
      expect(existsSync(volume.raw!)).toBe(false);
    }
  }, 120_000);

  it("serves a block export behind another loop device when its own was taken while the host was down, and the API's connection names it", async () => {
    const volume = await exportedVolume('block');
    const vm = new GuestWriter(volume.disk);
    await vm.write(2 * MIB, MIB, 0x5a);
    await vm.close();
    const listed = () => execFileSync('losetup', ['--list', '--noheadings', '--output', 'NAME,BACK-FILE']).toString();
    // a reboot, and before the agent is back another program takes the volume's loop device
    await island.crash('agent');
    island.loseStorageDaemon();
    const squatter = join(island.dataDir, 'squatter.img');
    writeFileSync(squatter, Buffer.alloc(4 * MIB, 0x11));
    execFileSync('losetup', [volume.disk, squatter]);
    try {
      await island.revive('agent');
      const moved = await pollUntil<Json>(island, `/v1/volumes/${volume.id}`, (v) => (v.connection as Json).device !== volume.disk, {
        what: 'the connection naming the new loop device',
        timeoutMs: 30_000,
      });
      const device = String((moved.connection as Json).device);
      expect(listed()).toContain(`${device} ${volume.raw}`);
      expect(execFileSync('dd', [`if=${device}`, 'bs=1M', 'skip=2', 'count=1', 'iflag=direct', 'status=none']).equals(Buffer.alloc(MIB, 0x5a))).toBe(true);
      // the other program's file is still what its device shows
      expect(execFileSync('dd', [`if=${volume.disk}`, 'bs=1M', 'count=1', 'iflag=direct', 'status=none']).equals(Buffer.alloc(MIB, 0x11))).toBe(true);
      expect(island.json('volume', 'detach', volume.id, '--wait')).toMatchObject({ status: 'available' });
      expect(listed()).not.toContain(String(volume.raw));
    } finally {
      execFileSync('losetup', ['--detach', volume.disk]);
    }
  }, 120_000);

  it('snapshots a group of volumes written in lockstep at one instant', async () => {
    const a = await exportedVolume();
    const b = await exportedVolume();
    const vms = [new GuestWriter(a.disk), new GuestWriter(b.disk)];
    const slots = 8;
    const writer = sequentialWriter(vms, slots, 220, 2);
    const groups = [];
    for (const at of [40, 120]) {
      while (writer.state.acked < at) await sleep(2);
      groups.push(await snapshotDuring(writer.state, [a.id, b.id]));
    }
    await writer.done;
    for (const vm of vms) await vm.close();
    for (const group of groups) {
      const byVolume = new Map<string, string>();
      for (const id of group.ids) byVolume.set(String((await island.request<Json>('GET', `/v1/snapshots/${id}`)).body.volumeId), id);
      const kA = prefixShown(await slotsOf(byVolume.get(a.id)!, slots));
      const kB = prefixShown(await slotsOf(byVolume.get(b.id)!, slots));
      expect(kA).toBeDefined();
      expect(kB).toBeDefined();
      // one instant of the write order A1 B1 A2 B2 …: B is at A's write or one behind
      expect([kA!, kA! - 1]).toContain(kB!);
      expect(kA!).toBeGreaterThanOrEqual(group.before);
      expect(kA!).toBeLessThanOrEqual(group.after);
    }
    for (const v of [a, b]) island.json('volume', 'detach', v.id, '--wait');
  }, 180_000);

  it('snapshots a group of file-mode volumes at one instant too; several volumes without --group are refused', async () => {
    const ids = [await io.createVolume(SIZE), await io.createVolume(SIZE)];
    const paths = [];
    for (const [k, id] of ids.entries()) {
      const path = await io.attach(id);
      await io.write(path, 0, Buffer.alloc(WRITE, 0x21 + k));
      paths.push(path);
    }
    const diffsBefore = await diffsPublished();
    const group = island.json<{ groupId: string; snapshots: Json[] }>('snapshot', 'create', ...ids, '--group', '--wait');
    expect(group.snapshots.map((s) => s.status)).toEqual(['available', 'available']);
    expect(group.snapshots.every((s) => s.groupId === group.groupId)).toBe(true);
    // the agent diffed each volume with the group's take: neither needed a diff job of its own
    expect(await diffsPublished()).toBe(diffsBefore);
    for (const s of group.snapshots) {
      const k = ids.indexOf(String(s.volumeId));
      expect((await slotsOf(String(s.id), 1))[0]).toBe(0x21 + k);
    }
    const one = island.cli('snapshot', 'create', ids[0], ids[1], '--json');
    expect(one.code).not.toBe(0);
    expect(one.stderr).toMatch(/--group/);
  }, 120_000);

  it('fails every snapshot of a group whose points in time cannot be taken, with the reason, leaving none creating', async () => {
    const ids = [await io.createVolume(SIZE), await io.createVolume(SIZE)];
    const paths = [];
    for (const id of ids) paths.push(await io.attach(id));
    // the second image's header names a cluster size QEMU never writes: no point in time can be taken in it
    const header = Buffer.alloc(4);
    header.writeUInt32BE(8);
    const fd = openSync(paths[1], 'r+');
    writeSync(fd, header, 0, 4, 20);
    closeSync(fd);
    const group = await island.request<{ snapshots: Json[] }>('POST', '/v1/snapshots/groups', { volumeIds: ids });
    expect(group.status).toBe(202);
    for (const s of group.body.snapshots) {
      const ended = await pollUntil<Json>(island, `/v1/snapshots/${String(s.id)}`, (x) => x.status !== 'creating', { failed: () => false, timeoutMs: 60_000 });
      expect(ended).toMatchObject({ status: 'error', statusReason: expect.stringMatching(/snapshot\.take-group on .*cluster/) });
    }
  }, 120_000);

  it('keeps the VM writing when the agent dies during a snapshot; the restarted agent finishes it and detaches cleanly', async () => {
    const volume = await exportedVolume();
    const vm = new GuestWriter(volume.disk);
    const slots = 16;
    const writer = sequentialWriter([vm], slots, 200, 8);
    while (writer.state.acked < 30) await sleep(5);
    const before = writer.state.acked;
    const created = (await island.request<Json>('POST', '/v1/snapshots', { volumeId: volume.id })).body;
    island.kill('agent');
    const ackedAtKill = writer.state.acked;
    await sleep(1500);
    // the daemon serves the disk without its agent
    expect(writer.state.acked).toBeGreaterThan(ackedAtKill + 20);
    await island.revive('agent');
    await writer.done;
    await vm.close();
    const k = prefixShown(await slotsOf(String(created.id), slots));
    expect(k).toBeDefined();
    expect(k!).toBeGreaterThanOrEqual(before);
    island.json('volume', 'detach', volume.id, '--wait');
    execFileSync('qemu-img', ['check', volume.path]);
  }, 180_000);

  it('refuses to extend, revert or delete an exported volume, saying why, and changes nothing', async () => {
    const volume = await exportedVolume();
    const snap = island.json('snapshot', 'create', volume.id, '--wait');
    const extend = await island.request<Json>('POST', `/v1/volumes/${volume.id}/extend`, { sizeBytes: 2 * SIZE });
    expect(extend.status).toBe(409);
    expect(JSON.stringify(extend.body)).toMatch(/storage daemon.*detach it, extend it/);
    const revert = await island.request<Json>('POST', `/v1/volumes/${volume.id}/revert`, { snapshotId: snap.id });
    expect(revert.status).toBe(409);
    expect(JSON.stringify(revert.body)).toMatch(/attached/);
    const del = await island.request<Json>('DELETE', `/v1/volumes/${volume.id}`);
    expect(del.status).toBe(409);
    expect((await island.request<Json>('GET', `/v1/volumes/${volume.id}`)).body).toMatchObject({ sizeBytes: SIZE, status: 'in-use' });
    const info = JSON.parse(execFileSync('qemu-img', ['info', '-U', '--output=json', volume.path], { encoding: 'utf8' })) as Json;
    expect(info['virtual-size']).toBe(SIZE);
    // detached, it is a file-mode volume again: extend works
    island.json('volume', 'detach', volume.id, '--wait');
    execFileSync('qemu-img', ['check', volume.path]);
    expect(island.json('volume', 'extend', volume.id, '--size', String(2 * SIZE), '--wait')).toMatchObject({ sizeBytes: 2 * SIZE });
  }, 120_000);
});
