import { Injectable } from '@nestjs/common';

/** Serialises the agent's work per volume: one image operation at a time, in arrival order. */
@Injectable()
export class VolumeLocks {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(volumeId: string, work: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(volumeId) ?? Promise.resolve();
    const next = previous.then(work, work);
    const tail = next.catch(() => undefined);
    this.tails.set(volumeId, tail);
    void tail.then(() => {
      if (this.tails.get(volumeId) === tail) this.tails.delete(volumeId);
    });
    return next;
  }

  /** Runs `work` holding the locks of several volumes, taken in id order so two groups never wait on each other. */
  runAll<T>(volumeIds: string[], work: () => Promise<T>): Promise<T> {
    const [first, ...rest] = [...new Set(volumeIds)].sort();
    if (first === undefined) return work();
    return this.run(first, () => this.runAll(rest, work));
  }
}
