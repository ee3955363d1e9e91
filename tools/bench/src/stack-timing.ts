import { IslandStack, PollOptions, pollUntil } from '@island/stack';

type Json = Record<string, unknown>;

/** Creates a snapshot and times it until available; returns the final snapshot too. */
export async function timedSnapshot(island: IslandStack, volumeId: string, poll: PollOptions<Json> = {}): Promise<{ ms: number; id: string; snap: Json }> {
  const started = performance.now();
  const created = await island.request('POST', '/v1/snapshots', { volumeId });
  if (created.status !== 202) throw new Error(`snapshot of ${volumeId}: ${created.status} ${JSON.stringify(created.body)}`);
  const id = String(created.body.id);
  const snap = await pollUntil<Json>(island, `/v1/snapshots/${id}`, (s) => s.status === 'available', poll);
  return { ms: performance.now() - started, id, snap };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** Attaches a volume on the stack's host and waits until it is in use (a restore, when it has content); its image path. */
export async function attachAndWait(island: IslandStack, volumeId: string, poll: PollOptions<Json> = {}): Promise<string> {
  await island.request('POST', `/v1/volumes/${volumeId}/attach`, { host: island.host });
  const volume = await pollUntil<Json>(island, `/v1/volumes/${volumeId}`, (v) => v.status === 'in-use', { timeoutMs: 600_000, ...poll });
  return (volume.connection as { path: string }).path;
}
