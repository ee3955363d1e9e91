import { SingleReferences } from './copied-after-drop';
import { Qcow2Image } from './qcow2-image';
import { ImageUsageError } from './qcow2-errors';
import { OFLAG_COPIED } from './limits';
import { SnapshotEntry, SnapshotInfo } from './snapshot-table';

/**
 * Takes an internal snapshot of the active image: its L1 table is copied, and every L2 table and cluster it
 * reaches gains a reference, so later writes to the active image copy instead of overwriting.
 */
export async function createSnapshot(image: Qcow2Image, name: string): Promise<SnapshotInfo> {
  requireName(name);
  if (image.snapshotList.some((s) => s.name === name)) throw new ImageUsageError(`a snapshot named ${JSON.stringify(name)} already exists in ${image.path}`);
  // every point in time holds one reference to a shared cluster: the refcount width bounds the snapshots
  if (image.snapshotList.length + 2 > image.refcounts.max) {
    throw new ImageUsageError(`${image.path} has ${image.refcounts.bits}-bit refcounts, which allow at most ${image.refcounts.max - 1} snapshots`);
  }
  const now = Date.now();
  const ids = image.snapshotList.map((s) => Number(s.id)).filter(Number.isFinite);
  const entry: SnapshotEntry = {
    l1TableOffset: 0, // set below, once the copy of the L1 table is written
    l1Size: image.activeView().l1.length,
    id: String(Math.max(0, ...ids) + 1),
    name,
    dateSec: Math.floor(now / 1000),
    dateNsec: (now % 1000) * 1e6,
    vmClockNsec: 0n,
    vmStateSize: 0,
    vmStateSizeLarge: 0n,
    diskSize: image.header.size,
    extraRest: Buffer.alloc(0),
  };
  await image.atomically(async () => {
    const active = image.activeView();
    await image.addReferences(active.l1, 1);
    entry.l1TableOffset = await image.writeNewL1(BigUint64Array.from(active.l1, (e) => e & ~OFLAG_COPIED));
    // every cluster and L2 table the active image reaches has just gained the snapshot's reference: none is its alone (the
    // commit then moves the L2 tables this rewrote to clusters of their own, whose L1 entries get COPIED back)
    await image.clearCopiedFlags();
    await image.replaceSnapshotTable([...image.snapshotList, entry]);
  });
  return image.snapshots().find((s) => s.id === entry.id) as SnapshotInfo;
}

/** Deletes a snapshot: its references are dropped and the clusters only it used are freed for reuse. */
export async function deleteSnapshot(image: Qcow2Image, nameOrId: string): Promise<void> {
  const entry = image.findSnapshot(nameOrId);
  const view = await image.snapshotView(nameOrId);
  await image.atomically(async () => {
    const singles = new SingleReferences();
    await image.replaceSnapshotTable(image.snapshotList.filter((s) => s !== entry));
    await image.addReferences(view.l1, -1, singles);
    await image.releaseL1(entry.l1TableOffset, entry.l1Size);
    await image.setCopiedFlagsAfterDrop(singles);
  });
}

/** Makes the active image equal to a snapshot again (the snapshot stays). */
export async function revertToSnapshot(image: Qcow2Image, nameOrId: string): Promise<void> {
  const entry = image.findSnapshot(nameOrId);
  const view = await image.snapshotView(nameOrId);
  await image.atomically(async () => {
    const active = image.activeView();
    const next = new BigUint64Array(Math.max(view.l1.length, active.l1.length));
    next.set(view.l1.map((e) => e & ~OFLAG_COPIED));
    // drop the active image's references first: with narrow refcounts the other order could overflow
    await image.addReferences(active.l1, -1);
    await image.addReferences(view.l1, 1);
    await image.replaceActiveL1(next);
    image.setVirtualSize(entry.diskSize ?? view.size);
    await image.refreshCopiedFlags();
  });
}

function requireName(name: string): void {
  if (!name || Buffer.byteLength(name) > 65535) throw new ImageUsageError('a snapshot name must be 1 to 65535 bytes');
}

/** Whether the image at `path` has an internal snapshot named `name` (read-only: snapshot tables change atomically). */
export async function hasSnapshotNamed(path: string, name: string): Promise<boolean> {
  const image = await Qcow2Image.open(path);
  try {
    return image.snapshots().some((s) => s.name === name);
  } finally {
    await image.close();
  }
}
