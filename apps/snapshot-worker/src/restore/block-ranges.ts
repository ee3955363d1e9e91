/**
 * A set of block ordinals as sorted, disjoint, non-adjacent [start, end) ranges. A restore writes its blocks roughly in
 * order, so the blocks it has written stay a handful of ranges however many there are.
 */
export class BlockRanges {
  private constructor(private readonly ranges: [number, number][]) {}

  static empty(): BlockRanges {
    return new BlockRanges([]);
  }

  /**
   * Ranges as `toJSON` wrote them, of ordinals below `limit`; anything else (unsorted, overlapping, adjacent, out of
   * bounds, not integers) throws a RangeError saying what is wrong.
   */
  static fromJSON(value: unknown, limit: number): BlockRanges {
    if (!Array.isArray(value)) throw new RangeError('block ranges are not a list');
    const ranges: [number, number][] = [];
    let previousEnd = -1;
    for (const range of value as unknown[]) {
      if (!Array.isArray(range) || range.length !== 2 || !range.every((n) => Number.isSafeInteger(n))) {
        throw new RangeError(`block range ${JSON.stringify(range)} is not a pair of integers`);
      }
      const [start, end] = range as [number, number];
      if (start < 0 || start >= end || end > limit) throw new RangeError(`block range [${start}, ${end}) is empty or outside [0, ${limit})`);
      if (start <= previousEnd) throw new RangeError(`block range [${start}, ${end}) is not after the one before it, with a gap`);
      ranges.push([start, end]);
      previousEnd = end;
    }
    return new BlockRanges(ranges);
  }

  get count(): number {
    return this.ranges.reduce((sum, [start, end]) => sum + end - start, 0);
  }

  has(ordinal: number): boolean {
    const i = this.firstStartingAfter(ordinal);
    return i > 0 && ordinal < this.ranges[i - 1][1];
  }

  add(ordinal: number): void {
    const i = this.firstStartingAfter(ordinal);
    const before = this.ranges[i - 1];
    const after = this.ranges[i];
    if (before && ordinal < before[1]) return;
    const joinsBefore = before !== undefined && before[1] === ordinal;
    const joinsAfter = after !== undefined && after[0] === ordinal + 1;
    if (joinsBefore && joinsAfter) {
      before[1] = after[1];
      this.ranges.splice(i, 1);
    } else if (joinsBefore) {
      before[1] = ordinal + 1;
    } else if (joinsAfter) {
      after[0] = ordinal;
    } else {
      this.ranges.splice(i, 0, [ordinal, ordinal + 1]);
    }
  }

  toJSON(): [number, number][] {
    return this.ranges.map(([start, end]) => [start, end]);
  }

  /** The index of the first range starting after `ordinal` (binary search). */
  private firstStartingAfter(ordinal: number): number {
    let low = 0;
    let high = this.ranges.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (this.ranges[mid][0] <= ordinal) low = mid + 1;
      else high = mid;
    }
    return low;
  }
}
