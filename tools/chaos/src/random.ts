/**
 * A seeded pseudo-random stream (mulberry32): the same seed gives the same choices, so a chaos run's sequence of
 * actions and faults can be run again. Timing between processes is not seeded; the choices are.
 */
export class Random {
  private state: number;

  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }

  /** A number in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from nothing');
    return items[Math.floor(this.next() * items.length)];
  }

  /** One key of `weights`, drawn in proportion to its weight. */
  weighted<K extends string>(weights: Record<K, number>): K {
    const entries = Object.entries(weights) as [K, number][];
    let draw = this.next() * entries.reduce((sum, [, w]) => sum + w, 0);
    for (const [key, weight] of entries) {
      draw -= weight;
      if (draw < 0) return key;
    }
    return entries[entries.length - 1][0];
  }

  /** Bytes from this stream (guest data that a rerun writes again identically). */
  bytes(length: number): Buffer {
    const out = Buffer.allocUnsafe(Math.ceil(length / 4) * 4);
    for (let at = 0; at < out.length; at += 4) out.writeUInt32LE(Math.floor(this.next() * 4294967296), at);
    return out.subarray(0, length);
  }

  /** A stream of its own, derived from this one's seed (e.g. the fault proxy's). */
  fork(salt: number): Random {
    return new Random((this.seed ^ Math.imul(salt, 0x9e3779b1)) >>> 0);
  }
}
