import { randomBytes } from 'node:crypto';
import { guestIo, useIsland } from '@island/stack';

const MIB = 1 << 20;
const SIZE = 8 * MIB;
const LISTING_PAUSE_MS = 6_000;
type Json = Record<string, unknown>;

/**
 * fsck lists Swift first, then reads the catalog; GC deletes an object first, then forgets it in the catalog. A GC run
 * that collects a deleted snapshot in between leaves objects fsck listed that the catalog no longer names: they are gone
 * from Swift, not orphans, and fsck must not report them as such.
 */
describe('fsck while GC collects what it listed', () => {
  const island = useIsland({ env: { ISLAND_INJECT_DELAYS_MS: `fsck.after-listing=${LISTING_PAUSE_MS}-${LISTING_PAUSE_MS}`, ISLAND_GC_GRACE_SECONDS: '0' } });
  const io = guestIo(island);

  const operation = async (id: string): Promise<Json> => (await island.request<Json>('GET', `/v1/operations/${id}`, undefined, island.adminToken)).body;
  const finished = async (id: string): Promise<Json> => {
    for (;;) {
      const op = await operation(id);
      if (op.status !== 'running') return op;
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  it('reports no orphan for a manifest and blocks GC deleted after the listing', async () => {
    const volumeId = await io.createVolume(SIZE);
    const path = await io.attach(volumeId);
    const model = Buffer.alloc(SIZE);
    await io.write(path, 0, randomBytes(2 * MIB), model);
    const doomed = String((await io.snapshot(volumeId)).id);
    await io.write(path, 0, randomBytes(2 * MIB), model); // the doomed snapshot's blocks are its own
    await io.snapshot(volumeId);

    const check = await island.request<Json>('POST', '/v1/fsck', {}, island.adminToken);
    expect(check.status).toBe(202);
    await new Promise((r) => setTimeout(r, 1_500)); // the listing is taken; fsck pauses after it
    expect((await island.request('DELETE', `/v1/snapshots/${doomed}`)).status).toBe(202);
    const gc = await island.request<Json>('POST', '/v1/gc/runs', { graceSeconds: 0 }, island.adminToken);
    const collected = await finished(String(gc.body.id));
    expect(collected).toMatchObject({ status: 'succeeded' });
    expect((collected.result as Json).manifestsDeleted).toBe(1);
    expect(Number((collected.result as Json).blocksDeleted)).toBeGreaterThanOrEqual(2);
    // the fault hit its window: GC collected while fsck held its listing
    expect((await operation(String(check.body.id))).status).toBe('running');

    const report = await finished(String(check.body.id));
    expect(report).toMatchObject({ status: 'succeeded', result: { ok: true, problems: [] } });
  }, 120_000);
});
