import { Qcow2Header } from './header';
import { ImageFile } from './image-file';
import { SingleReferences } from './copied-after-drop';
import { COPIED_FIRST_BYTE_BIT, OFLAG_COPIED } from './limits';
import { hex } from './qcow2-errors';
import { REFERENCE_WINDOW_CLUSTERS, ReferenceWindow } from './reference-window';
import { Refcounts } from './refcounts';
import { serializeSnapshotTable, SnapshotEntry } from './snapshot-table';
import { OnceReadTables, readTablesAhead, TableStep } from './table-read-ahead';
import { ActiveL1, ClusterTables, HostClusters, TableLookup, View } from './tables';

/**
 * What counting an image's references reads. Qcow2Image provides it: the check and the dirty-image
 * rebuild both count through this module, which does not import the image class.
 */
export interface ReferencedImage extends TableLookup, OnceReadTables {
  readonly file: ImageFile;
  readonly header: Qcow2Header;
  readonly refcounts: Refcounts;
  readonly snapshotList: readonly SnapshotEntry[];
  activeView(): View;
  snapshotView(nameOrId: string): Promise<View>;
  hostClusters(table: Buffer, l1Index: number, all: boolean): HostClusters;
}

/**
 * The references every cluster of the image should have, recomputed from the metadata alone, a window of clusters at
 * a time (REFERENCE_WINDOW_CLUSTERS: the metadata is walked once per window). `visit` gets each window once it is
 * counted, before the next one is; windows cover every cluster of the file, or more where the refcounts already
 * cover more. A reference beyond the end of the file is a problem, said once.
 */
export async function computeReferences(
  image: ReferencedImage,
  visit: (window: ReferenceWindow) => Promise<void>,
  windowClusters = REFERENCE_WINDOW_CLUSTERS,
): Promise<{ problems: string[] }> {
  const problems: string[] = [];
  const fileClusters = Math.ceil(image.file.size / image.clusterSize);
  const clusters = Math.max(fileClusters, image.refcounts.fileClusters);
  const counts = new Uint16Array(Math.min(windowClusters, clusters));
  for (let first = 0; first < clusters; first += windowClusters) {
    const window = new ReferenceWindow(first, Math.min(windowClusters, clusters - first), counts);
    await walkReferences(image, (cluster, what, guestCluster) => {
      if (cluster >= fileClusters) {
        if (first !== 0) return;
        const referrer = guestCluster === undefined ? what : `${what} ${hex(guestCluster * image.clusterSize)}`;
        problems.push(`${referrer} at ${hex(cluster * image.clusterSize)} lies beyond the end of the file`);
      } else if (window.covers(cluster)) window.add(cluster);
    });
    await visit(window);
  }
  return { problems };
}

/**
 * Calls `reference` for each cluster the metadata references, once per reference, saying what references it (a data
 * cluster: with the guest cluster it holds, so that no text is made per entry).
 */
async function walkReferences(image: ReferencedImage, reference: (cluster: number, what: string, guestCluster?: number) => void): Promise<void> {
  const cs = image.clusterSize;
  const addRange = (offset: number, bytes: number, what: string) => {
    for (let c = Math.floor(offset / cs); c < Math.ceil((offset + bytes) / cs); c++) reference(c, what);
  };
  reference(0, 'header');
  const h = image.header;
  addRange(h.l1TableOffset, h.l1Size * 8, 'active L1 table');
  addRange(h.refcountTableOffset, h.refcountTableClusters * cs, 'refcount table');
  image.refcounts.blockOffsets.forEach((offset) => offset && reference(offset / cs, 'refcount block'));
  if (h.nbSnapshots) addRange(h.snapshotsOffset, serializeSnapshotTable([...image.snapshotList]).length, 'snapshot table');
  const views = [image.activeView()];
  for (const s of image.snapshotList) {
    addRange(s.l1TableOffset, s.l1Size * 8, `L1 table of snapshot ${s.name}`);
    views.push(await image.snapshotView(s.id));
  }
  for (const view of views) {
    for await (const { step, tables } of readTablesAhead(image, tablesOf(image, view), 1)) {
      const { l1Index: i, l2 } = step;
      reference(l2 / cs, `L2 table ${i}`);
      const table = tables[0];
      if (!table) continue;
      const { entries, clusters } = image.hostClusters(table, i, true);
      for (let k = 0; k < clusters.length; k++) reference(clusters[k], 'data cluster of guest', i * image.l2Entries + entries[k]);
    }
  }
}

/** The L2 tables a view's L1 table names, in order, for readTablesAhead; one beyond the end of the file is named, not read. */
export function* tablesOf(image: ReferencedImage, view: View): Generator<TableStep<{ l1Index: number; l2: number }>> {
  for (let i = 0; i < view.l1.length; i++) {
    const l2 = image.l2OffsetOf(view.l1[i], i);
    if (!l2) continue;
    yield { step: { l1Index: i, l2 }, offsets: [l2 < image.file.size ? l2 : 0], what: `L2 table ${i}` };
  }
}

/**
 * Adds `delta` to the refcount of every L2 table and cluster reachable from `l1` (a point in time taken or dropped);
 * `singles` collects where that left a cluster one reference.
 */
export async function addReferences(tables: ClusterTables, refcounts: Refcounts, l1: BigUint64Array, delta: 1 | -1, singles?: SingleReferences): Promise<void> {
  for (let i = 0; i < l1.length; i++) {
    const l2Offset = tables.l2OffsetOf(l1[i], i);
    if (!l2Offset) continue;
    const table = await tables.l2Table(l2Offset, `L2 table ${i}`);
    const { entries, clusters } = tables.hostClusters(table, i, true);
    await refcounts.changeMany(clusters, delta, singles && ((k) => singles.add(i, entries[k], clusters[k])));
    const left = await refcounts.change(l2Offset / tables.clusterSize, delta);
    if (left === 1) singles?.add(i, -1, l2Offset / tables.clusterSize);
    if (left === 0) tables.cache.forget(l2Offset);
  }
}

/**
 * Clears the COPIED flag in the active L1 and every L2 table it reaches, reading no refcount: what refreshCopiedFlags
 * does right after a point in time is taken, when everything the active image reaches is shared with it (on an image whose
 * refcounts were already too low it differs, and is the safe one: a flag left set would let a write overwrite the point in
 * time's data). A take of a fully allocated volume otherwise looks up every data cluster's refcount once more.
 */
export async function clearCopiedFlags(tables: ClusterTables, active: ActiveL1): Promise<void> {
  const l1 = active.entries;
  for (let i = 0; i < l1.length; i++) {
    const l2Offset = tables.l2OffsetOf(l1[i], i);
    if (!l2Offset) continue;
    const table = await tables.l2Table(l2Offset, `L2 table ${i}`);
    let changed = false;
    for (let at = 0; at < table.length; at += tables.entryBytes) {
      if (table[at] & COPIED_FIRST_BYTE_BIT) {
        table[at] &= ~COPIED_FIRST_BYTE_BIT;
        changed = true;
      }
    }
    if (changed) await tables.cache.markDirty(l2Offset, table);
    if (l1[i] & OFLAG_COPIED) active.set(i, l1[i] & ~OFLAG_COPIED);
  }
}

/** Sets the COPIED flag exactly where the refcount is 1, in the active L1 and its L2 tables. */
export async function refreshCopiedFlags(tables: ClusterTables, refcounts: Refcounts, active: ActiveL1): Promise<void> {
  const l1 = active.entries;
  for (let i = 0; i < l1.length; i++) {
    const l2Offset = tables.l2OffsetOf(l1[i], i);
    if (!l2Offset) continue;
    const table = await tables.l2Table(l2Offset, `L2 table ${i}`);
    const { entries, clusters } = tables.hostClusters(table, i, false);
    const counts = await refcounts.getMany(clusters);
    let changed = false;
    for (let k = 0; k < entries.length; k++) {
      // the flag is the top bit of the entry's first (most significant) byte
      const at = entries[k] * tables.entryBytes;
      const first = table[at];
      const wanted = counts[k] === 1 ? first | COPIED_FIRST_BYTE_BIT : first & ~COPIED_FIRST_BYTE_BIT;
      if (wanted !== first) {
        table[at] = wanted;
        changed = true;
      }
    }
    if (changed) await tables.cache.markDirty(l2Offset, table);
    const exclusive = (await refcounts.get(l2Offset / tables.clusterSize)) === 1;
    const wanted = exclusive ? BigInt(l2Offset) | OFLAG_COPIED : BigInt(l2Offset);
    if (wanted !== l1[i]) active.set(i, wanted);
  }
}
