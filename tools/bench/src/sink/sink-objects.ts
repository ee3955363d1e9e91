import { createHash } from 'node:crypto';

/** One stored object: its bytes, MD5 and the headers Swift would give back. */
export interface SinkObject {
  body: Buffer;
  md5: string;
  contentType: string;
  metadata: Record<string, string>;
  lastModified: Date;
}

/** What the sink was asked to do and holds, for a benchmark to read before and after a step. */
export interface SinkCounts {
  requests: Record<string, number>;
  objects: number;
  bytesHeld: number;
  bytesReceived: number;
  /** PUTs refused because keeping the body would pass the memory bound. */
  refusedForMemory: number;
}

/**
 * Objects by container and name, kept in memory up to `maxBytes` of bodies so that what a snapshot PUT can be
 * GET again by a restore. A PUT past the bound is refused (not dropped silently): a benchmark that sees
 * `refusedForMemory` must make its blocks smaller or fewer.
 */
export class SinkObjects {
  private readonly containers = new Map<string, Map<string, SinkObject>>();
  private bytesHeld = 0;
  readonly counts: SinkCounts = { requests: {}, objects: 0, bytesHeld: 0, bytesReceived: 0, refusedForMemory: 0 };

  constructor(private readonly maxBytes: number) {}

  count(kind: string): void {
    this.counts.requests[kind] = (this.counts.requests[kind] ?? 0) + 1;
  }

  snapshot(): SinkCounts {
    return { ...this.counts, requests: { ...this.counts.requests }, objects: this.objectCount(), bytesHeld: this.bytesHeld };
  }

  createContainer(container: string): boolean {
    if (this.containers.has(container)) return false;
    this.containers.set(container, new Map());
    return true;
  }

  deleteContainer(container: string): 'deleted' | 'missing' | 'not-empty' {
    const objects = this.containers.get(container);
    if (!objects) return 'missing';
    if (objects.size > 0) return 'not-empty';
    this.containers.delete(container);
    return 'deleted';
  }

  containerNames(): string[] {
    return [...this.containers.keys()].sort();
  }

  objectsOf(container: string): Map<string, SinkObject> | undefined {
    return this.containers.get(container);
  }

  get(container: string, name: string): SinkObject | undefined {
    return this.containers.get(container)?.get(name);
  }

  /** Stores a body; false when the memory bound refuses it. */
  put(container: string, name: string, body: Buffer, contentType: string, metadata: Record<string, string>): SinkObject | false {
    const objects = this.containers.get(container) ?? new Map<string, SinkObject>();
    this.containers.set(container, objects);
    const replaced = objects.get(name);
    const growth = body.length - (replaced?.body.length ?? 0);
    if (this.bytesHeld + growth > this.maxBytes) {
      this.counts.refusedForMemory += 1;
      return false;
    }
    const object = { body, md5: md5Hex(body), contentType, metadata, lastModified: new Date() };
    objects.set(name, object);
    this.bytesHeld += growth;
    return object;
  }

  delete(container: string, name: string): boolean {
    const objects = this.containers.get(container);
    const object = objects?.get(name);
    if (!objects || !object) return false;
    objects.delete(name);
    this.bytesHeld -= object.body.length;
    return true;
  }

  private objectCount(): number {
    let n = 0;
    for (const objects of this.containers.values()) n += objects.size;
    return n;
  }
}

export function md5Hex(body: Buffer): string {
  return createHash('md5').update(body).digest('hex');
}
