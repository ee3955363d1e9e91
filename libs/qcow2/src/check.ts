import { Qcow2Image } from './qcow2-image';
import { computeReferences, tablesOf } from './references';
import { readTablesAhead } from './table-read-ahead';
import { ReferenceWindow } from './reference-window';
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

/** Problems listed at most (of each kind: errors, leaks); `errors` and `leaks` count them all. */
const PROBLEMS_LISTED = 1000;

/**
 * Like `qemu-img check`: recomputes refcounts and compares; with repair, leaked clusters are released. Counts a window
 * of clusters at a time (computeReferences), so its memory does not grow with the image.
 */
export async function checkImage(image: Qcow2Image, options: { repair?: boolean; windowClusters?: number } = {}): Promise<CheckResult> {
  await image.flush();
  let errors = 0;
  let leaks = 0;
  let leaksFixed = 0;
  const errorProblems: string[] = [];
  const leakProblems: string[] = [];
  const visit = async (window: ReferenceWindow): Promise<void> => {
    const leaked: number[] = [];
    await image.refcounts.forEachRefcount(window.first, window.end, (c, stored) => {
      const expected = window.get(c);
      if (stored < expected) {
        errors++;
        if (errorProblems.length < PROBLEMS_LISTED) errorProblems.push(`cluster ${hex(c * image.clusterSize)}: refcount ${stored} but ${expected} references`);
      } else if (stored > expected) {
        leaks++;
        if (options.repair) leaked.push(c);
        if (leakProblems.length < PROBLEMS_LISTED)
          leakProblems.push(`cluster ${hex(c * image.clusterSize)} leaked: refcount ${stored}, ${expected} references`);
      }
    });
    for (const c of leaked) await image.refcounts.set(c, window.get(c));
    leaksFixed += leaked.length;
  };
  const { problems } = await computeReferences(image, visit, options.windowClusters);
  errors += problems.length;
  const flags = await checkCopiedFlags(image);
  errors += flags.errors;
  if (leaksFixed) await image.flush();
  return {
    errors,
    leaks: leaks - leaksFixed,
    leaksFixed,
    problems: [...problems, ...errorProblems, ...leakProblems, ...flags.problems],
    imageEndOffset: image.file.size,
  };
}

/** Whether each L2 table's and data cluster's COPIED flag says what its refcount does (1: written in place). */
async function checkCopiedFlags(image: Qcow2Image): Promise<{ errors: number; problems: string[] }> {
  let errors = 0;
  const problems: string[] = [];
  const mismatch = (problem: string) => {
    errors++;
    if (problems.length < PROBLEMS_LISTED) problems.push(problem);
  };
  const active = image.activeView();
  for await (const { step, tables } of readTablesAhead(image, tablesOf(image, active), 1)) {
    const { l1Index: i, l2 } = step;
    const table = tables[0];
    if (!table) continue; // beyond the end of the file: counted as an error by the reference walk
    const refcount = await image.refcounts.get(l2 / image.clusterSize);
    if (((active.l1[i] & OFLAG_COPIED) !== 0n) !== (refcount === 1)) mismatch(`L1 entry ${i}: COPIED flag does not match refcount ${refcount} of its L2 table`);
    const { clusters, copied } = image.dataClusters(table, i);
    const refcounts = await image.refcounts.getMany(clusters);
    for (let k = 0; k < clusters.length; k++) {
      if ((copied[k] === 1) !== (refcounts[k] === 1)) {
        mismatch(`data cluster ${hex(clusters[k] * image.clusterSize)}: COPIED flag does not match refcount ${refcounts[k]}`);
      }
    }
  }
  return { errors, problems };
}
