import { Qcow2Image } from './qcow2-image';
import { View } from './tables';
import { ClusterMapping } from './l2-entry';
import { COPIED_FIRST_BYTE_BIT, COPIED_HIGH_WORD_BIT } from './limits';
import { readTablesAhead, TableStep } from './table-read-ahead';

export interface DiffExtent {
  offset: number;
  length: number;
  /** data: the cluster holds data at the later point in time; zero: it reads as zeros (or is unallocated). */
  kind: 'data' | 'zero';
}

export interface DiffResult {
  clusterSize: number;
  extents: DiffExtent[];
}

/**
 * The guest ranges that differ between two points in time, from L1/L2 metadata alone: an L2 table shared by
 * both is skipped whole; otherwise entries are compared (flags that only say "not shared" are ignored).
 * `from` null means "since the image was empty"; `to` undefined means the active image. Tables are read ahead of the
 * comparison: the image must not be written while the diff runs.
 */
export async function diffSnapshots(image: Qcow2Image, from: string | null, to?: string): Promise<DiffResult> {
  const before: View | undefined = from === null ? undefined : await image.snapshotView(from);
  const after = to === undefined ? image.activeView() : await image.snapshotView(to);
  const extents: DiffExtent[] = [];
  const clusterSize = image.clusterSize;
  const push = (cluster: number, kind: 'data' | 'zero') => {
    const offset = cluster * clusterSize;
    const length = Math.min(clusterSize, after.size - offset);
    if (length <= 0) return;
    const last = extents[extents.length - 1];
    if (last && last.kind === kind && last.offset + last.length === offset) last.length += length;
    else extents.push({ offset, length, kind });
  };
  const clusters = Math.ceil(after.size / clusterSize);
  const l1Entries = Math.ceil(clusters / image.l2Entries);
  const scratchA = Buffer.allocUnsafe(clusterSize);
  const scratchB = Buffer.allocUnsafe(clusterSize);
  for await (const { step: i, tables } of readTablesAhead(image, differingTables(image, before, after, l1Entries), 2)) {
    const [tableA, tableB] = tables;
    const first = i * image.l2Entries;
    const count = Math.min(image.l2Entries, clusters - first);
    const bytes = image.entryBytes;
    // COPIED (bit 63) only says "not shared": without it, a table rewritten for a few clusters is the same bytes as
    // the other but for them, and runs of it are skipped by one native compare
    const plainA = tableA && tableB && withoutCopied(tableA, bytes, scratchA);
    const plainB = tableA && tableB && withoutCopied(tableB, bytes, scratchB);
    const sameRun = (j: number, entries: number) => {
      const end = Math.min(count, j + entries);
      return plainA && plainB && j % entries === 0 && plainA.compare(plainB, j * bytes, end * bytes, j * bytes, end * bytes) === 0 ? end : 0;
    };
    for (let j = 0; j < count; j++) {
      // a long run first, then, where it differs, its short runs: scattered rewrites leave most short runs the same
      const end = sameRun(j, LONG_RUN) || sameRun(j, SHORT_RUN);
      if (end > 0) {
        j = end - 1;
        continue;
      }
      const at = j * bytes;
      // compare as two 32-bit halves (fast), ignoring COPIED
      if (before !== undefined && sameEntry(tableA, tableB, at, image.extendedL2)) continue;
      const mapping: ClusterMapping = tableB ? image.decode(tableB, j, first + j) : { kind: 'unallocated' };
      if (before === undefined && (mapping.kind === 'unallocated' || mapping.kind === 'zero')) continue;
      push(first + j, mapping.kind === 'unallocated' || mapping.kind === 'zero' ? 'zero' : 'data');
    }
  }
  return { clusterSize, extents };
}

/** Entries of two L2 tables compared as bytes at once before one by one: runs of 64, then of 8. */
const LONG_RUN = 64;
const SHORT_RUN = 8;

/** The L2 table copied into `copy` (a table's size) with every entry's COPIED flag (the top bit of its first byte) cleared. */
function withoutCopied(table: Buffer, entryBytes: number, copy: Buffer): Buffer {
  table.copy(copy);
  for (let at = 0; at < copy.length; at += entryBytes) copy[at] &= ~COPIED_FIRST_BYTE_BIT;
  return copy;
}

/**
 * The L1 indexes whose L2 tables differ, in order, with the tables at the two points in time (offset 0: none), each
 * offset validated as it is reached.
 */
function* differingTables(image: Qcow2Image, before: View | undefined, after: View, l1Entries: number): Generator<TableStep<number>> {
  for (let i = 0; i < l1Entries; i++) {
    const a = before && i < before.l1.length ? image.l2OffsetOf(before.l1[i], i) : 0;
    const b = i < after.l1.length ? image.l2OffsetOf(after.l1[i], i) : 0;
    if (b === 0 && (a === 0 || before === undefined)) continue;
    if (a === b && before !== undefined) continue;
    yield { step: i, offsets: [a, b], what: `L2 table ${i}` };
  }
}

function word(table: Buffer | undefined, at: number): number {
  return table ? table.readUInt32BE(at) : 0;
}

function sameEntry(a: Buffer | undefined, b: Buffer | undefined, at: number, extended: boolean): boolean {
  if ((word(a, at) & ~COPIED_HIGH_WORD_BIT) !== (word(b, at) & ~COPIED_HIGH_WORD_BIT) || word(a, at + 4) !== word(b, at + 4)) return false;
  return !extended || (word(a, at + 8) === word(b, at + 8) && word(a, at + 12) === word(b, at + 12));
}
