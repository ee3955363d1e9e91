import { IslandStack } from '@island/stack';

type Json = Record<string, unknown>;

/**
 * Polls `path` until `done(body)`, throwing once `failed(body)`. The interval grows with the time waited
 * (20 ms, then 2% of the elapsed time, at most 200 ms): the timing error stays within ~2%, and on this
 * saturated 2-core machine the polling does not take the CPU the measured operation needs.
 */
export async function pollUntil(
  island: IslandStack,
  path: string,
  done: (body: Json) => boolean,
  failed: (body: Json) => boolean = (body) => body.status === 'error',
  timeoutMs = 600_000,
): Promise<Json> {
  const started = performance.now();
  for (;;) {
    const body = (await island.request<Json>('GET', path)).body;
    if (done(body)) return body;
    if (failed(body)) throw new Error(`${path}: ${JSON.stringify(body)}`);
    const waited = performance.now() - started;
    if (waited > timeoutMs) throw new Error(`${path} did not finish in ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, Math.min(200, Math.max(20, waited / 50))));
  }
}

/** Creates a snapshot and times it until available; returns the final snapshot too. */
export async function timedSnapshot(island: IslandStack, volumeId: string): Promise<{ ms: number; id: string; snap: Json }> {
  const started = performance.now();
  const created = await island.request('POST', '/v1/snapshots', { volumeId });
  if (created.status !== 202) throw new Error(`snapshot of ${volumeId}: ${created.status} ${JSON.stringify(created.body)}`);
  const id = String(created.body.id);
  const snap = await pollUntil(island, `/v1/snapshots/${id}`, (s) => s.status === 'available');
  return { ms: performance.now() - started, id, snap };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}
