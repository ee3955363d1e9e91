import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Paces reads to a number of bytes per second (0: unlimited) across concurrent readers: each read reserves its
 * share of time after the reads before it and waits for the end of that share, so bytes read over any stretch stay
 * at or under the rate, plus one burst of `burstMs` worth after an idle spell.
 */
export class ByteRateLimiter {
  private reservedUntil = 0;

  constructor(
    readonly bytesPerSecond: number,
    private readonly burstMs = 250,
  ) {}

  /** Waits until `bytes` may be read. Rejects with an AbortError when `signal` fires first. */
  async take(bytes: number, signal?: AbortSignal): Promise<void> {
    if (this.bytesPerSecond <= 0) return;
    const now = performance.now();
    this.reservedUntil = Math.max(this.reservedUntil, now - this.burstMs) + (bytes * 1000) / this.bytesPerSecond;
    const wait = this.reservedUntil - now;
    if (wait > 0) await sleep(wait, undefined, { signal });
  }
}
