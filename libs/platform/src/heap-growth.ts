import { setFlagsFromString } from 'node:v8';

/**
 * How far V8 lets the old space grow past what survived the last full collection before it starts the next one.
 *
 * Under an old-space cap below 1 GiB (ISLAND_HEAP_MIB, 192 by default) V8 picks a growing factor of about 1.3, so
 * a worker holding ~35 MiB ran a mark-compact for every ~15 MiB of block bodies it moved: 221 of them for the 3 GiB
 * of `npm run bench -- cpu-per-gib`, most of its CPU beyond the hashes and cipher. Growing 2× (up to the cap, which
 * still holds) brought that to 62 (docs/performance.md). node refuses this flag in NODE_OPTIONS, so each process sets
 * it itself, at start, whatever launched it.
 */
export const HEAP_GROWING_PERCENT = 100;

/** Sets the growing factor unless the command line chose one. */
export function setHeapGrowth(execArgv: readonly string[] = process.execArgv): void {
  if (execArgv.some((flag) => /^--heap[-_]growing[-_]percent\b/.test(flag))) return;
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}
