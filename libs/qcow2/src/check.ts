import { Qcow2Image } from './qcow2-image';
import { compressedClusters } from './l2-entry';
import { OFLAG_COPIED } from './limits';
import { hex } from './qcow2-errors';

export interface CheckResult {
  /** References to clusters whose refcount is too low, references beyond the file, bad COPIED flags. */
  errors: number;
  /** Clusters whose refcount is higher than their references (space that is never freed). */
  leaks: number;
  /** Leaks fixed by this run (with repair). */
  leaksFixed: number;
  problems: string[];
  imageEndOffset: number;
}

/** The references every cluster should have, recomputed from the metadata alone. */
export async function computeReferences(image: Qcow2Image): Promise<{ counts: Map<number, number>; clusters: number; problems: string[] }> {
  const counts = new Map<number, number>();
  const problems: string[] = [];
  const cs = image.clusterSize;
  const fileClusters = Math.ceil(image.file.size / cs);
  const add = (cluster: number, what: string) => {
    if (cluster >= fileClusters) {
      problems.push(`${what} at ${hex(cluster * cs)} lies beyond the end of the file`);
      return;
    }
    counts.set(cluster, (counts.get(cluster) ?? 0) + 1);
  };
  const addRange = (offset: number, bytes: number, what: string) => {
    for (let c = Math.floor(offset / cs); c < Math.ceil((offset + bytes) / cs); c++) add(c, what);
  };
  add(0, 'header');
  const h = image.header;
  addRange(h.l1TableOffset, h.l1Size * 8, 'active L1 table');
  addRange(h.refcountTableOffset, h.refcountTableClusters * cs, 'refcount table');
  image.refcounts.blockOffsets.forEach((offset) => offset && add(offset / cs, 'refcount block'));
  if (h.nbSnapshots) {
    const { serializeSnapshotTable } = await import('./snapshot-table');
    addRange(h.snapshotsOffset, serializeSnapshotTable([...image.snapshotList]).length, 'snapshot table');
  }
  const views = [image.activeView()];
  for (const s of image.snapshotList) {
    addRange(s.l1TableOffset, s.l1Size * 8, `L1 table of snapshot ${s.name}`);
    views.push(await image.snapshotView(s.id));
  }
  for (const view of views) {
    for (let i = 0; i < view.l1.length; i++) {
      const l2 = image.l2OffsetOf(view.l1[i], i);
      if (!l2) continue;
      add(l2 / cs, `L2 table ${i}`);
      if (l2 >= image.file.size) continue;
      const table = await image.l2Table(l2, `L2 table ${i}`);
      for (let j = 0; j < image.l2Entries; j++) {
        const m = image.decode(table, j, i * image.l2Entries + j);
        if ((m.kind === 'data' || m.kind === 'zero' || m.kind === 'subclusters') && m.offset) add(m.offset / cs, `data cluster of guest ${hex((i * image.l2Entries + j) * cs)}`);
        else if (m.kind === 'compressed') for (const c of compressedClusters(m.offset, m.size, cs)) add(c, 'compressed cluster');
      }
    }
  }
  let clusters = fileClusters;
  for (const c of counts.keys()) if (c + 1 > clusters) clusters = c + 1;
  return { counts, clusters, problems };
}

/** Like `qemu-img check`: recomputes refcounts and compares; with repair, leaked clusters are released. */
export async function checkImage(image: Qcow2Image, options: { repair?: boolean } = {}): Promise<CheckResult> {
  await image.flush();
  const { counts, clusters, problems } = await computeReferences(image);
  let errors = problems.length;
  let leaks = 0;
  const leaked: number[] = [];
  const limit = Math.max(clusters, image.refcounts.fileClusters);
  for (let c = 0; c < limit; c++) {
    const stored = await image.refcounts.get(c);
    const expected = counts.get(c) ?? 0;
    if (stored < expected) {
      errors++;
      problems.push(`cluster ${hex(c * image.clusterSize)}: refcount ${stored} but ${expected} references`);
    } else if (stored > expected) {
      leaks++;
      leaked.push(c);
      if (problems.length < 1000) problems.push(`cluster ${hex(c * image.clusterSize)} leaked: refcount ${stored}, ${expected} references`);
    }
  }
  errors += await checkCopiedFlags(image, problems);
  let leaksFixed = 0;
  if (options.repair && leaked.length) {
    for (const c of leaked) await image.refcounts.set(c, counts.get(c) ?? 0);
    leaksFixed = leaked.length;
    await image.flush();
  }
  return { errors, leaks: leaks - leaksFixed, leaksFixed, problems, imageEndOffset: image.file.size };
}

async function checkCopiedFlags(image: Qcow2Image, problems: string[]): Promise<number> {
  let errors = 0;
  const active = image.activeView();
  for (let i = 0; i < active.l1.length; i++) {
    const l2 = image.l2OffsetOf(active.l1[i], i);
    if (!l2 || l2 >= image.file.size) continue;
    const refcount = await image.refcounts.get(l2 / image.clusterSize);
    if (((active.l1[i] & OFLAG_COPIED) !== 0n) !== (refcount === 1)) {
      errors++;
      problems.push(`L1 entry ${i}: COPIED flag does not match refcount ${refcount} of its L2 table`);
    }
    const table = await image.l2Table(l2, `L2 table ${i}`);
    for (let j = 0; j < image.l2Entries; j++) {
      const m = image.decode(table, j, i * image.l2Entries + j);
      if (m.kind !== 'data') continue;
      const rc = await image.refcounts.get(m.offset / image.clusterSize);
      if (m.copied !== (rc === 1)) {
        errors++;
        problems.push(`data cluster ${hex(m.offset)}: COPIED flag does not match refcount ${rc}`);
      }
    }
  }
  return errors;
}
