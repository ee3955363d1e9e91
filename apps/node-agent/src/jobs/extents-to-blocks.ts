import { DiffExtent } from '@island/qcow2';

export interface BlockRange {
  start: number;
  count: number;
}

/** The island blocks (of `blockSize` bytes) that hold at least one changed cluster, as merged runs. */
export function extentsToBlockRuns(extents: DiffExtent[], blockSize: number): BlockRange[] {
  const runs: BlockRange[] = [];
  for (const e of extents) {
    const first = Math.floor(e.offset / blockSize);
    const last = Math.floor((e.offset + e.length - 1) / blockSize);
    const prev = runs[runs.length - 1];
    if (prev && first <= prev.start + prev.count) {
      prev.count = Math.max(prev.count, last - prev.start + 1);
    } else {
      runs.push({ start: first, count: last - first + 1 });
    }
  }
  return runs;
}
