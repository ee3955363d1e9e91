import { Qcow2Image } from './qcow2-image';
import { computeReferences } from './references';
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
