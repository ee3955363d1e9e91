import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { GuestWriter, IslandStack, RealCinder, startIsland, startRealCinder } from '@island/stack';

const MIB = 1 << 20;
const GIB = 1024 * MIB;
type Json = Record<string, unknown>;

/** The first `length` bytes of a disk (a block device: its size is not in stat). */
function readDisk(path: string, length: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buffer = Buffer.alloc(length);
    let done = 0;
    while (done < length) done += readSync(fd, buffer, done, length - done, done);
    return buffer;
  } finally {
    closeSync(fd);
  }
}

function diskSize(path: string): number {
  const fd = openSync(path, 'r');
  try {
    // a block device's size: where reading ends
    let low = 0;
    let high = 64 * GIB;
    const probe = Buffer.alloc(1);
    while (low < high) {
      const mid = Math.floor((low + high + 1) / 2 / 512) * 512;
      if (mid <= low) break;
      if (readSync(fd, probe, 0, 1, mid - 1) === 1) low = mid;
      else high = mid - 512;
    }
    return low;
  } finally {
    closeSync(fd);
  }
}

/** What a guest wrote: `pattern` over [offset, offset + length) of a model of the disk's first 8 MiB. */
function fill(model: Buffer, offset: number, length: number, pattern: number): void {
  model.fill(pattern, offset, offset + length);
}

/**
 * Debian's own Cinder (cinder-api, -scheduler, -volume, -backup from the 21.x packages) with island's driver
 * in front of a real island, driven with the `cinder` CLI as an operator would: every step is checked by the
 * bytes a guest (qemu-io on the block device Cinder's connection names) wrote and reads back.
 */
describe('the real Cinder services drive island', () => {
  let island: IslandStack;
  let cinder: RealCinder;
  const CONTENT = 8 * MIB;

  beforeAll(async () => {
    // cinder-backup attaches volumes on this machine's hostname (os-brick's connector): island's host is named so
    island = await startIsland({ hostName: hostname().split('.')[0] });
    cinder = await startRealCinder(island, 'alpha');
    await cinder.cli('type-create', 'island');
    await cinder.cli('type-key', 'island', 'set', 'volume_backend_name=island');
  }, 600_000);
  afterAll(async () => {
    if (process.env.ISLAND_E2E_DUMP) console.log(island.logs().slice(-8000), cinder.logs());
    await cinder?.stop();
    await island?.stop();
  }, 120_000);

  /** Attaches through Cinder (a connector naming island's host, as Nova's would) and returns the device path. */
  async function attach(volumeId: string): Promise<{ attachment: string; device: string }> {
    const created = await cinder.show('attachment-create', '--connect', 'True', '--host', island.host, '--ip', '127.0.0.1', '--mode', 'rw', volumeId);
    await cinder.cli('attachment-complete', created.id);
    await cinder.waitFor('show', volumeId, 'in-use');
    // the CLI prints the attachment, then its connection_info as a second table
    const shown = await cinder.show('attachment-show', created.id);
    expect(shown).toMatchObject({ driver_volume_type: 'local', format: 'raw', device_path: expect.stringMatching(/^\/dev\/loop\d+$/) });
    return { attachment: created.id, device: shown.device_path };
  }

  async function detach(volumeId: string, attachment: string): Promise<void> {
    await cinder.cli('attachment-delete', attachment);
    await cinder.waitFor('show', volumeId, 'available');
  }

  async function contentOf(volumeId: string, length = CONTENT): Promise<Buffer> {
    const { attachment, device } = await attach(volumeId);
    const bytes = readDisk(device, length);
    await detach(volumeId, attachment);
    return bytes;
  }

  async function createVolume(...args: string[]): Promise<string> {
    const id = (await cinder.show('create', '--volume-type', 'island', ...args)).id;
    await cinder.waitFor('show', id, 'available');
    return id;
  }

  it('runs the whole lifecycle with live snapshots, revert, clones, extend, backup and restore, asserting bytes', async () => {
    const model = Buffer.alloc(CONTENT);
    const a = await createVolume('--name', 'a', '1');
    expect((await island.request<Json>('GET', `/v1/volumes/${a}`)).body).toMatchObject({ id: a, sizeBytes: GIB, status: 'available' });

    // a guest keeps its disk open and writes while Cinder snapshots it (live: the storage daemon holds the image)
    const { attachment, device } = await attach(a);
    expect(statSync(device).isBlockDevice()).toBe(true);
    const guest = new GuestWriter(device);
    await guest.write(0, 4 * MIB, 0x11);
    fill(model, 0, 4 * MIB, 0x11);
    const s1 = (await cinder.show('snapshot-create', '--force', 'True', '--name', 's1', a)).id;
    await cinder.waitFor('snapshot-show', s1, 'available');
    // Cinder says available only once island has the snapshot in Swift
    expect((await island.request<Json>('GET', `/v1/snapshots/${s1}`)).body).toMatchObject({ status: 'available', progress: 100 });
    const atS1 = Buffer.from(model);
    await guest.write(MIB, MIB, 0x22);
    fill(model, MIB, MIB, 0x22);
    const s2 = (await cinder.show('snapshot-create', '--force', 'True', '--name', 's2', a)).id;
    await cinder.waitFor('snapshot-show', s2, 'available');
    const atS2 = Buffer.from(model);
    await guest.write(3 * MIB, MIB, 0x33); // after the last snapshot: the revert takes it away
    await guest.flush();
    await guest.close();
    await detach(a, attachment);

    // revert: Cinder takes its temporary snapshot first, island waits for it, and Cinder deletes it afterwards
    await cinder.cli('revert-to-snapshot', s2);
    await cinder.waitFor('show', a, 'available');
    expect((await contentOf(a)).equals(atS2)).toBe(true);
    const cinderSnapshots = (await cinder.list('snapshot-list', '--volume-id', a)).map((s) => s.ID).sort();
    expect(cinderSnapshots).toEqual([s1, s2].sort());
    const islandSnapshots = await island.request<{ snapshots: Json[] }>('GET', `/v1/snapshots?volumeId=${a}`);
    expect(
      islandSnapshots.body.snapshots
        .filter((s) => s.status !== 'deleting')
        .map((s) => s.id)
        .sort(),
    ).toEqual([s1, s2].sort());

    const fromS1 = await createVolume('--snapshot-id', s1, '--name', 'from-s1', '1');
    {
      // served before its content is local (lazy restore): nbdfuse serves the file under the loop device while it fills
      const lazy = await attach(fromS1);
      expect(existsSync(join(island.dataDir, 'exports', `${fromS1}.nbdfuse.pid`))).toBe(true);
      expect(readDisk(lazy.device, CONTENT).equals(atS1)).toBe(true);
      await detach(fromS1, lazy.attachment);
    }

    const clone = await createVolume('--source-volid', a, '--name', 'clone', '1');
    expect((await contentOf(clone)).equals(atS2)).toBe(true);

    await cinder.cli('extend', a, '2');
    await cinder.waitFor('show', a, '2', 'size');
    {
      const grown = await attach(a);
      expect(diskSize(grown.device)).toBe(2 * GIB);
      expect(readDisk(grown.device, CONTENT).equals(atS2)).toBe(true);
      await detach(a, grown.attachment);
    }

    // cinder-backup reads the volume through its own connection: the backup holds the guest's bytes
    const backup = (await cinder.show('backup-create', '--name', 'b', a)).id;
    await cinder.waitFor('backup-show', backup, 'available', 'status', 600_000);
    const restored = (await cinder.show('backup-restore', '--name', 'restored', backup)).volume_id;
    await cinder.waitFor('show', restored, 'available', 'status', 600_000);
    const restoredBytes = await contentOf(restored);
    expect(restoredBytes.subarray(0, 4).toString('latin1')).not.toBe('QFI\xfb');
    expect(restoredBytes.equals(atS2)).toBe(true);

    // delete in any order: the older snapshot first, while a volume made from it lives on
    await cinder.cli('snapshot-delete', s1);
    await cinder.cli('backup-delete', backup);
    await waitGone(async () => (await cinder.list('snapshot-list')).map((s) => s.ID), s1);
    expect((await contentOf(fromS1)).equals(atS1)).toBe(true);
    await cinder.cli('snapshot-delete', s2);
    await waitGone(async () => (await cinder.list('snapshot-list')).map((s) => s.ID), s2);
    for (const id of [a, fromS1, clone, restored]) await cinder.cli('delete', id);
    await waitGone(async () => (await cinder.list('list')).map((v) => v.ID), a, fromS1, clone, restored);
    await waitGone(async () => (await cinder.list('backup-list')).map((b) => b.ID), backup);
    const left = await island.request<{ volumes: Json[] }>('GET', '/v1/volumes');
    expect(left.body.volumes.map((v) => v.id)).toEqual([]);
  }, 900_000);

  it('shows the scheduler one driver version and no online extend', async () => {
    const pool = await cinder.show('get-pools', '--detail');
    expect(pool).toMatchObject({ driver_version: '1.1.0', storage_protocol: 'local', online_extend_support: 'False', vendor_name: 'island' });
  });
});

async function waitGone(ids: () => Promise<string[]>, ...gone: string[]): Promise<void> {
  for (let i = 0; i < 300; i++) {
    const present = await ids();
    if (!gone.some((id) => present.includes(id))) return;
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new Error(`still present after 300 s: ${gone.join(', ')}`);
}
