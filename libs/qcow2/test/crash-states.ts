import { createHash } from 'node:crypto';
import { FileEvent } from './recording-file';
import { seeded } from './qemu-tools';

/** Writes reach the disk a page at a time: a write of several pages may be persisted in part. */
const PAGE = 4096;

/** One write or size change that a crash may or may not have let reach the disk. */
export type Piece = { kind: 'write'; offset: number; bytes: Buffer } | { kind: 'truncate'; size: number };

/** The image after a crash: every epoch (the pieces between two barriers) before `epoch`, and `applied` of that one. */
export interface CrashState {
  epoch: number;
  applied: number[];
  /** Every piece of every epoch reached the disk: the update completed. */
  complete: boolean;
  image: Buffer;
}

/** Splits recorded events at the barriers; writes are cut at page boundaries. */
export function epochsOf(events: FileEvent[]): Piece[][] {
  const epochs: Piece[][] = [[]];
  for (const event of events) {
    if (event.kind === 'barrier') epochs.push([]);
    else if (event.kind === 'truncate') epochs[epochs.length - 1].push(event);
    else epochs[epochs.length - 1].push(...pages(event.offset, event.bytes));
  }
  return epochs;
}

function pages(offset: number, bytes: Buffer): Piece[] {
  const pieces: Piece[] = [];
  for (let at = 0; at < bytes.length;) {
    const end = Math.min(bytes.length, (Math.floor((offset + at) / PAGE) + 1) * PAGE - offset);
    pieces.push({ kind: 'write', offset: offset + at, bytes: bytes.subarray(at, end) });
    at = end;
  }
  return pieces;
}

export interface CrashStateOptions {
  /** Epochs with at most this many pieces have every subset tried; larger ones a sample. */
  exhaustiveUpTo: number;
  /** How many subsets of a larger epoch: the empty and full ones, each single piece, all but each piece, then random ones. */
  sample: number;
  seed: number;
}

/** Every distinct crash state of an update: for each epoch, the subsets of its pieces on top of all earlier epochs. */
export function crashStates(base: Buffer, epochs: Piece[][], options: CrashStateOptions): CrashState[] {
  const random = seeded(options.seed);
  const seen = new Set<string>();
  const states: CrashState[] = [];
  const complete = apply(base, epochs.flat());
  const completeHash = hash(complete);
  let before = base;
  epochs.forEach((pieces, epoch) => {
    for (const applied of subsets(pieces.length, options, random)) {
      const image = apply(
        before,
        applied.map((i) => pieces[i]),
      );
      const key = hash(image);
      if (seen.has(key)) continue;
      seen.add(key);
      states.push({ epoch, applied, complete: key === completeHash, image });
    }
    before = apply(before, pieces);
  });
  return states;
}

function subsets(n: number, options: CrashStateOptions, random: () => number): number[][] {
  const all = [...Array(n).keys()];
  if (n <= options.exhaustiveUpTo) {
    return [...Array(2 ** n).keys()].map((mask) => all.filter((i) => mask & (1 << i)));
  }
  const chosen = new Map<string, number[]>();
  const add = (subset: number[]) => chosen.set(subset.join(','), subset);
  add([]);
  add(all);
  for (const i of all) {
    add([i]);
    add(all.filter((j) => j !== i));
  }
  for (let attempt = 0; chosen.size < options.sample && attempt < options.sample * 20; attempt++) add(all.filter(() => random() < 0.5));
  return [...chosen.values()];
}

/** The file after `pieces` reached it, in the order they were issued. */
export function apply(base: Buffer, pieces: Piece[]): Buffer {
  let file: Buffer = Buffer.from(base);
  for (const piece of pieces) {
    const end = piece.kind === 'write' ? Math.max(file.length, piece.offset + piece.bytes.length) : piece.size;
    if (end !== file.length) file = resize(file, end);
    if (piece.kind === 'write') piece.bytes.copy(file, piece.offset);
  }
  return file;
}

function resize(file: Buffer, size: number): Buffer {
  const out = Buffer.alloc(size);
  file.copy(out, 0, 0, Math.min(size, file.length));
  return out;
}

function hash(image: Buffer): string {
  return createHash('sha1').update(image).digest('hex');
}
