/**
 * Clusters whose references one pass over an image's metadata counts: 2^24 16-bit counts are 32 MiB and cover 1 TiB
 * of 64 KiB clusters. A larger image is counted in several passes, so a check or a refcount rebuild holds the same
 * memory whatever the image's size (a Map entry per cluster could not hold a 4 TiB image's 64 M clusters at all).
 */
export const REFERENCE_WINDOW_CLUSTERS = 2 ** 24;

const SATURATED = 0xffff;

/**
 * References counted to the clusters [first, first + length), 16 bits each in `counts` (zeroed here: the windows of one
 * pass share it), a count beyond that in a map.
 */
export class ReferenceWindow {
  private readonly counts: Uint16Array;
  /** Counts of clusters referenced 0xffff times or more (points in time sharing a cluster: rare). */
  private readonly large = new Map<number, number>();

  constructor(
    readonly first: number,
    readonly length: number,
    counts = new Uint16Array(length),
  ) {
    this.counts = counts.subarray(0, length).fill(0);
  }

  get end(): number {
    return this.first + this.length;
  }

  covers(cluster: number): boolean {
    return cluster >= this.first && cluster < this.first + this.length;
  }

  add(cluster: number): void {
    const i = cluster - this.first;
    if (this.counts[i] < SATURATED) this.counts[i]++;
    else this.large.set(i, (this.large.get(i) ?? SATURATED) + 1);
  }

  /** The references counted to `cluster` (which the window covers). */
  get(cluster: number): number {
    const i = cluster - this.first;
    const count = this.counts[i];
    return count < SATURATED ? count : (this.large.get(i) ?? SATURATED);
  }
}
