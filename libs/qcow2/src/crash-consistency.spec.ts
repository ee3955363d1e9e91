import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { clusterRoles, describePiece } from '../test/cluster-roles';
import { CrashState, crashStates, epochsOf } from '../test/crash-states';
import { verifyCrashStates } from '../test/crash-verdicts';
import { GuestModel } from '../test/guest-model';
import { qemuImg, qemuIo, scratchDir } from '../test/qemu-tools';
import { openRecorded, recordUpdate } from '../test/recording-file';
import { Qcow2Image } from './index';

/** An update whose every crash state is checked. */
interface UpdateCase {
  /** Completes "a crash at any moment of …". */
  name: string;
  clusterSize: number;
  refcountBits: number;
  size: number;
  /** Changes the new image with qemu's tools before island opens it. */
  prepare?(path: string, guest: GuestModel): void;
  /** Brings the image to the state the update starts from (not recorded). */
  setup(image: Qcow2Image, guest: GuestModel): Promise<void>;
  /** The recorded update; it ends when its changes are durable. */
  update(image: Qcow2Image, guest: GuestModel): Promise<void>;
  /** The fdatasyncs the update costs. */
  barriers: number;
  /** The active image changes as a whole (revert), not sector by sector. */
  atomicActive?: boolean;
  /** Refcount blocks island keeps in memory (default: its own default). */
  refcountCacheBlocks?: number;
}

// 512-byte clusters keep the images, and so the hundreds of crash states, small
const cases: UpdateCase[] = [
  {
    name: 'guest writes that allocate data clusters and a new L2 table',
    clusterSize: 512,
    refcountBits: 16,
    size: 256 << 10,
    setup: (image, guest) => guest.write(image, 0, 8 << 10, 0x11),
    update: async (image, guest) => {
      await guest.write(image, 8 << 10, 1536, 0x22); // three new clusters under an existing L2 table
      await guest.write(image, (40 << 10) + 100, 300, 0x33); // part of a cluster under a new L2 table
      await guest.write(image, 1 << 10, 512, 0x44); // in place
      await image.flush();
    },
    barriers: 3,
  },
  {
    name: 'guest writes that reuse clusters a deleted snapshot freed',
    clusterSize: 512,
    refcountBits: 16,
    size: 256 << 10,
    setup: async (image, guest) => {
      await guest.write(image, 0, 8 << 10, 0x11);
      await guest.write(image, 40 << 10, 2 << 10, 0x12);
      await guest.snapshot(image, 's1');
      await guest.write(image, 0, 8 << 10, 0x21);
      await guest.write(image, 40 << 10, 2 << 10, 0x22);
      await guest.deleteSnapshot(image, 's1'); // its L2 tables and data clusters are free, not blank
    },
    update: async (image, guest) => {
      await guest.write(image, 80 << 10, 1536, 0x31); // a new L2 table and data clusters, in freed clusters
      await guest.write(image, 120 << 10, 512, 0x32);
      await image.flush();
    },
    barriers: 3,
  },
  {
    name: 'guest writes over clusters an island snapshot shares',
    clusterSize: 512,
    refcountBits: 16,
    size: 256 << 10,
    setup: async (image, guest) => {
      await guest.write(image, 0, 8 << 10, 0x11);
      await guest.snapshot(image, 'base');
    },
    update: async (image, guest) => {
      await guest.write(image, 1 << 10, 1 << 10, 0x55); // whole shared clusters
      await guest.write(image, (4 << 10) + 10, 100, 0x66); // part of a shared cluster
      await guest.zero(image, 6 << 10, 512); // a shared cluster becomes a zero cluster
      await image.flush();
    },
    barriers: 3,
  },
  {
    name: 'guest writes over clusters and an L2 table a qemu-img snapshot shares',
    clusterSize: 512,
    refcountBits: 16,
    size: 256 << 10,
    prepare: (path, guest) => {
      qemuIo(path, 'write -P 0x11 0 8k');
      guest.active.fill(0x11, 0, 8 << 10);
      qemuImg('snapshot', '-c', 'base', path);
      guest.snapshots.set('base', Buffer.from(guest.active));
    },
    setup: async () => undefined,
    update: async (image, guest) => {
      await guest.write(image, 1 << 10, 1 << 10, 0x55); // whole shared clusters, in a shared L2 table
      await guest.write(image, (4 << 10) + 10, 100, 0x66);
      await guest.zero(image, 6 << 10, 512);
      await image.flush();
    },
    barriers: 4,
  },
  {
    name: 'a guest write that needs a new refcount block',
    clusterSize: 512,
    refcountBits: 64, // a refcount block covers 64 clusters
    size: 256 << 10,
    setup: async (image, guest) => {
      for (let offset = 0; image.refcounts.fileClusters < image.refcounts.entriesPerBlock - 2; offset += 512) await guest.write(image, offset, 512, 0x11);
    },
    update: async (image, guest) => {
      await guest.write(image, 128 << 10, 2048, 0x77);
      await image.flush();
    },
    barriers: 4,
  },
  {
    name: 'a guest write that outgrows the refcount table',
    clusterSize: 512,
    refcountBits: 64, // the one-cluster refcount table covers 64 blocks of 64 clusters: 2 MiB of file
    size: 2560 << 10,
    setup: async (image, guest) => {
      const covered = image.refcounts.entriesPerBlock * (image.clusterSize / 8);
      let offset = 0;
      for (; image.refcounts.fileClusters < covered - 80; offset += 32 << 10) await guest.write(image, offset, 32 << 10, 0x11);
      for (; image.refcounts.fileClusters < covered - 2; offset += 512) await guest.write(image, offset, 512, 0x12);
    },
    update: async (image, guest) => {
      await guest.write(image, 2400 << 10, 1024, 0x78);
      await image.flush();
    },
    barriers: 5,
  },
  {
    name: 'creating an internal snapshot',
    clusterSize: 512,
    refcountBits: 16,
    size: 256 << 10,
    setup: async (image, guest) => {
      await guest.write(image, 0, 4 << 10, 0x11);
      await guest.snapshot(image, 'older');
      await guest.write(image, 40 << 10, 2 << 10, 0x22);
    },
    update: (image, guest) => guest.snapshot(image, 'new'),
    barriers: 2,
  },
  {
    name: 'deleting an internal snapshot',
    clusterSize: 512,
    refcountBits: 16,
    size: 256 << 10,
    setup: async (image, guest) => {
      await guest.write(image, 0, 4 << 10, 0x11);
      await guest.snapshot(image, 's0');
      await guest.write(image, 40 << 10, 2 << 10, 0x12);
      await guest.snapshot(image, 's1');
      await guest.write(image, 1 << 10, 1 << 10, 0x22);
    },
    // the clusters at 40 KiB become the active image's alone: their COPIED flags change with their refcounts
    update: (image, guest) => guest.deleteSnapshot(image, 's1'),
    barriers: 2,
  },
  {
    name: 'reverting to an internal snapshot',
    clusterSize: 512,
    refcountBits: 16,
    size: 256 << 10,
    setup: async (image, guest) => {
      await guest.write(image, 0, 4 << 10, 0x11);
      await guest.snapshot(image, 's1');
      await guest.write(image, 1 << 10, 1 << 10, 0x22);
      await guest.write(image, 40 << 10, 2 << 10, 0x33);
    },
    update: (image, guest) => guest.revert(image, 's1'),
    barriers: 2,
    atomicActive: true,
  },
  {
    name: 'growing the image past its L1 table',
    clusterSize: 512,
    refcountBits: 16,
    size: 256 << 10,
    setup: (image, guest) => guest.write(image, 0, 4 << 10, 0x11),
    update: (image, guest) => guest.grow(image, 3 << 20),
    barriers: 3,
  },
];

/**
 * Updates run again with refcount blocks pushed out of a one-block cache mid-update: with 512-byte clusters and 64-bit
 * refcounts a block covers 64 clusters (32 KiB of file), the data written first (above the guest offsets the updates
 * use) makes the image span several, and every step that touches another block writes the last one back (moved to a
 * fresh cluster first, inside an atomic change).
 */
const EVICTING_REFCOUNTS = [
  'guest writes that allocate data clusters and a new L2 table',
  'creating an internal snapshot',
  'deleting an internal snapshot',
  'reverting to an internal snapshot',
];
const withEvictedRefcounts = cases
  .filter((c) => EVICTING_REFCOUNTS.includes(c.name))
  .map((c): UpdateCase => ({
    ...c,
    name: `${c.name}, across refcount blocks with a refcount cache of one block`,
    refcountBits: 64,
    size: 512 << 10,
    refcountCacheBlocks: 1,
    setup: async (image, guest) => {
      await guest.write(image, 128 << 10, 48 << 10, 0x0a);
      await guest.write(image, 300 << 10, 8 << 10, 0x0b);
      await c.setup(image, guest);
    },
  }));

describe('power loss during an update', () => {
  const { dir, cleanup } = scratchDir('crash');
  afterAll(cleanup);

  it.each([...cases, ...withEvictedRefcounts])(
    'leaves an image that qemu-img and island find consistent, holding what the guest wrote, at any moment of $name',
    async (c) => {
      const work = join(dir, c.name.replace(/\W+/g, '-'));
      await mkdir(work);
      const path = join(work, 'image.qcow2');
      qemuImg('create', '-f', 'qcow2', '-o', `cluster_size=${c.clusterSize},refcount_bits=${c.refcountBits}`, path, String(c.size));
      const guest = new GuestModel(Buffer.alloc(c.size));
      c.prepare?.(path, guest);
      const { image, file } = await openRecorded(path, { refcountCacheBlocks: c.refcountCacheBlocks });
      await c.setup(image, guest);
      await image.flush();
      const snapshotsBefore = new Map(guest.snapshots);
      guest.startUpdate();
      const { base, events } = await recordUpdate(path, file, () => c.update(image, guest));
      await image.close();

      const epochs = epochsOf(events);
      const states = crashStates(base, epochs, { exhaustiveUpTo: 8, sample: 300, seed: 7 });
      expect(states.filter((s) => s.complete)).toHaveLength(1);
      await writeFile(join(work, 'base.qcow2'), base);
      const roles = [await clusterRoles(path), await clusterRoles(join(work, 'base.qcow2'))];
      const label = (s: CrashState) =>
        `crash after ${s.epoch} of ${epochs.length - 1} barriers and ${s.applied.length} of the ${epochs[s.epoch].length} writes since: ` +
        (s.applied.map((i) => describePiece(epochs[s.epoch][i], c.clusterSize, ...roles)).join(', ') || 'none');
      const expectation = { versions: guest.versions, atomicActive: c.atomicActive ?? false, snapshotsBefore, snapshotsAfter: guest.snapshots };

      expect(await verifyCrashStates(work, states, expectation, label)).toEqual([]);
      expect(events.filter((e) => e.kind === 'barrier')).toHaveLength(c.barriers);
    },
    120_000,
  );
});
