import { IslandStack } from '@island/stack';

type Json = Record<string, unknown>;

/** One list request a second: the bench's own load on the API stays small; phases last a minute or more. */
const POLL_MS = 1_000;

/** Snapshots every volume at once; resolves with their ids once all are available (one list request per poll). */
export async function snapshotAll(island: IslandStack, volumeIds: string[]): Promise<string[]> {
  const ids = await Promise.all(
    volumeIds.map(async (volumeId) => {
      const res = await island.request('POST', '/v1/snapshots', { volumeId });
      if (res.status !== 202) throw new Error(`snapshot of ${volumeId}: ${res.status} ${JSON.stringify(res.body)}`);
      return String(res.body.id);
    }),
  );
  await untilAll(island, '/v1/snapshots', 'snapshots', ids, 'available');
  return ids;
}

/** Creates a volume from each snapshot and attaches it on the stack's host (a restore each); resolves once all are in use. */
export async function restoreAll(island: IslandStack, snapshotIds: string[], sizeBytes: number): Promise<string[]> {
  const ids = await Promise.all(
    snapshotIds.map(async (snapshotId) => {
      const created = await island.request('POST', '/v1/volumes', { sizeBytes, snapshotId });
      if (created.status !== 201) throw new Error(`volume from ${snapshotId}: ${created.status} ${JSON.stringify(created.body)}`);
      const id = String(created.body.id);
      const attached = await island.request('POST', `/v1/volumes/${id}/attach`, { host: island.host });
      if (attached.status !== 202) throw new Error(`attach ${id}: ${attached.status} ${JSON.stringify(attached.body)}`);
      return id;
    }),
  );
  await untilAll(island, '/v1/volumes', 'volumes', ids, 'in-use');
  return ids;
}

/** Asks nothing of the stack for `seconds` but the snapshot list, polled as the phases poll it (idle CPU includes the polling's). */
export async function pollIdle(island: IslandStack, seconds: number): Promise<void> {
  for (const started = Date.now(); Date.now() - started < seconds * 1000;) {
    await island.request('GET', '/v1/snapshots');
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

async function untilAll(island: IslandStack, path: string, key: string, ids: string[], status: string): Promise<void> {
  const wanted = new Set(ids);
  for (const started = Date.now(); Date.now() - started < 600_000;) {
    const listed = ((await island.request<Json>('GET', path)).body[key] as Json[]).filter((r) => wanted.has(String(r.id)));
    // a failed attach leaves the volume available with the reason
    const failed = listed.find((r) => ['error', 'failed'].includes(String(r.status)) || (r.status === 'available' && !!r.statusReason));
    if (failed) throw new Error(`${key} ${String(failed.id)} ${String(failed.status)}: ${JSON.stringify(failed)}`);
    if (listed.length === ids.length && listed.every((r) => r.status === status)) return;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  throw new Error(`${key} not ${status} after 10 minutes`);
}
