import { COPIED_FIRST_BYTE_BIT, OFLAG_COPIED } from './limits';
import { Refcounts } from './refcounts';
import { ActiveL1, ClusterTables } from './tables';

/**
 * Where a point in time's drop left clusters only one reference: the L1 index and L2 entry of the dropped point in time that
 * reached each (entry -1: the L2 table itself). Past LIMIT of them it keeps no more and says so: dropping the only
 * point in time of a volume the active image still shares in full leaves every cluster at one, and then a pass over
 * all the active image's refcounts costs what a list of them would.
 */
export class SingleReferences {
  static readonly LIMIT = 65536;
  readonly l1Indexes: number[] = [];
  readonly entries: number[] = [];
  readonly clusters: number[] = [];
  overflowed = false;

  constructor(private readonly limit = SingleReferences.LIMIT) {}

  add(l1Index: number, entry: number, cluster: number): void {
    if (this.clusters.length >= this.limit) {
      this.overflowed = true;
      return;
    }
    this.l1Indexes.push(l1Index);
    this.entries.push(entry);
    this.clusters.push(cluster);
  }
}

/**
 * Sets the COPIED flag where a drop left the active image a cluster's only holder, looking only where the dropped point in
 * time's references were: but for compressed data (which never carries the flag), a cluster maps one guest offset in every
 * point in time of an image qemu or island wrote, so the active image can only hold it at the same L1 index and entry. A
 * drop only lowers refcounts, so no other flag changes: a cluster it left at two references or more was shared before too.
 * Unlike refreshCopiedFlags, it does not repair flags that were wrong before the drop. `singles` come grouped by L1 index,
 * as addReferences walks.
 */
export async function setCopiedFlagsAfterDrop(tables: ClusterTables, refcounts: Refcounts, active: ActiveL1, singles: SingleReferences): Promise<void> {
  const l1 = active.entries;
  const { l1Indexes, entries, clusters } = singles;
  for (let k = 0; k < clusters.length;) {
    const i = l1Indexes[k];
    let end = k;
    while (end < clusters.length && l1Indexes[end] === i) end++;
    const l2Offset = i < l1.length ? tables.l2OffsetOf(l1[i], i) : 0;
    if (l2Offset) await setInTable(tables, refcounts, active, i, l2Offset, entries.slice(k, end), clusters.slice(k, end));
    k = end;
  }
}

async function setInTable(
  tables: ClusterTables,
  refcounts: Refcounts,
  active: ActiveL1,
  l1Index: number,
  l2Offset: number,
  entries: number[],
  clusters: number[],
): Promise<void> {
  const tableCluster = l2Offset / tables.clusterSize;
  const table = await tables.l2Table(l2Offset, `L2 table ${l1Index}`);
  const held: number[] = [];
  const heldClusters: number[] = [];
  let tableSingle = false;
  for (let m = 0; m < entries.length; m++) {
    if (entries[m] < 0) {
      tableSingle ||= clusters[m] === tableCluster;
      continue;
    }
    const mapping = tables.decode(table, entries[m], l1Index * tables.l2Entries + entries[m]);
    // as refreshCopiedFlags: standard clusters and preallocated zero ones carry the flag, compressed ones never do
    if ((mapping.kind === 'data' || mapping.kind === 'zero') && mapping.offset / tables.clusterSize === clusters[m]) {
      held.push(entries[m]);
      heldClusters.push(clusters[m]);
    }
  }
  const counts = await refcounts.getMany(heldClusters);
  let changed = false;
  for (let m = 0; m < held.length; m++) {
    const at = held[m] * tables.entryBytes;
    if (counts[m] === 1 && !(table[at] & COPIED_FIRST_BYTE_BIT)) {
      table[at] |= COPIED_FIRST_BYTE_BIT;
      changed = true;
    }
  }
  if (changed) await tables.cache.markDirty(l2Offset, table);
  if (tableSingle && (await refcounts.get(tableCluster)) === 1) active.set(l1Index, BigInt(l2Offset) | OFLAG_COPIED);
}
