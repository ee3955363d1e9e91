import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Buffers that die young: a socket read's chunk (and a cipher's output, where island's AES-GCM addon is not built), each
 * copied into pooled block memory (BlockBuffers) and dropped at once. Their bytes live outside V8's heap and their objects are a few bytes each, so they never fill the
 * young generation: V8 frees them once ~64 MiB of such memory has built up (a limit it does not let anyone set), with a
 * full collection. On top of the blocks in flight that garbage took a restore's worker past 256 MiB RSS
 * (docs/performance.md, "Peak memory of a restore"). Code that drops such a buffer says how many bytes it dropped; every
 * `bytesPerCollection` of them a young-generation collection (a fraction of a millisecond: little survives it) frees them.
 */
export class DroppedBuffers {
  private sinceCollection = 0;

  constructor(
    readonly bytesPerCollection: number,
    private readonly collectYoung: () => void,
  ) {}

  /** `bytes` of buffers the caller has just stopped using, none of them pooled. */
  add(bytes: number): void {
    this.sinceCollection += bytes;
    if (this.sinceCollection < this.bytesPerCollection) return;
    this.sinceCollection = 0;
    this.collectYoung();
  }
}

type GcFunction = (options: { type: 'minor' }) => void;
let gc: GcFunction | undefined;

/** A young-generation collection, through the function `--expose-gc` puts in contexts created after it is set. */
export function collectYoungGeneration(): void {
  if (!gc) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as GcFunction;
  }
  gc({ type: 'minor' });
}

/**
 * Bytes dropped between two collections: 16 MiB of garbage at most instead of ~64. Every 8 MiB cost a restore ~0.9 CPU-s
 * more per GiB (three alternating pairs of `npm run bench -- cpu-per-gib`, docs/performance.md) for ~8 MiB less peak RSS.
 */
export const DROPPED_BYTES_PER_COLLECTION = 16 * 1024 * 1024;

/** The process's count: the Swift client (socket chunks) and the block codecs (cipher outputs, without the AES-GCM addon) add to it. */
export const droppedBuffers = new DroppedBuffers(DROPPED_BYTES_PER_COLLECTION, collectYoungGeneration);
