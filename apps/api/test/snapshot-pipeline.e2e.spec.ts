import { randomBytes } from 'node:crypto';
import { guestIo, IslandStack, pollUntil, startIsland } from '@island/stack';

const MIB = 1 << 20;
type Json = Record<string, unknown>;

/**
 * The core pipeline end to end on the real services: API → RabbitMQ → node agent → snapshot workers →
 * Swift, catalog in PostgreSQL. Guest data is written straight into the attached image (as a VM would),
 * and every restore is compared byte for byte with what was written.
 */
describe('volumes, incremental snapshots and restores, end to end', () => {
  let island: IslandStack;
  let io: ReturnType<typeof guestIo>;
  const size = 24 * MIB;

  beforeAll(async () => {
    island = await startIsland();
    io = guestIo(island);
  }, 60_000);

  afterAll(async () => {
    await island?.stop(); // removes this stack's own Swift container: other suites' stacks run beside it
  }, 60_000);

  it('snapshots only the changed blocks, restores every snapshot bit-exact, and reverts to any of them', async () => {
    const created = await island.request('POST', '/v1/volumes', { name: 'db', sizeBytes: size });
    expect(created.status).toBe(201);
    const volumeId = String(created.body.id);
    const path = await io.attach(volumeId);
    const model = Buffer.alloc(size);

    // first snapshot: 5 MiB of random data, and 3 MiB of one repeated block (deduplicated)
    await io.write(path, 2 * MIB, randomBytes(5 * MIB), model);
    await io.write(path, 12 * MIB, Buffer.alloc(3 * MIB, 0x5a), model);
    const first = await io.snapshot(volumeId, 'first');
    const atFirst = Buffer.from(model);
    expect(first).toMatchObject({ blocksTotal: 8, blocksUploaded: 6, blocksReused: 2, progress: 100 });

    // second snapshot: one block rewritten, one zeroed; only they are read and at most one is uploaded
    await io.write(path, 3 * MIB + 4096, randomBytes(8192), model);
    await io.write(path, 13 * MIB, Buffer.alloc(MIB), model);
    const second = await io.snapshot(volumeId, 'second');
    const atSecond = Buffer.from(model);
    expect(second).toMatchObject({ blocksTotal: 2, blocksUploaded: 1 });
    expect(Number(second.bytesUploaded)).toBeLessThanOrEqual(MIB + 64);

    // a third snapshot with nothing changed uploads nothing
    const third = await io.snapshot(volumeId, 'third');
    expect(third).toMatchObject({ blocksTotal: 0, bytesUploaded: 0 });

    // the agent diffed each point in time with its take: none of the three needed a diff job of its own
    const agentMetrics = await (await fetch(`http://127.0.0.1:${island.metricsPort('agent')}/metrics`)).text();
    expect(agentMetrics).toMatch(/^island_messages_published_total\{contract="snapshot\.taken\.v1"\} 3$/m);
    expect(agentMetrics).not.toMatch(/contract="snapshot\.diffed\.v1"/);

    // every snapshot restores into a new volume, bit-exact, whichever order
    for (const [snap, expected] of [
      [second, atSecond],
      [first, atFirst],
    ] as const) {
      // no size given: the snapshot's
      const clone = await island.request('POST', '/v1/volumes', { name: `from-${snap.name}`, snapshotId: snap.id });
      expect(clone.status).toBe(201);
      expect(clone.body.sizeBytes).toBe(size);
      const clonePath = await io.attach(String(clone.body.id));
      expect((await io.read(clonePath)).equals(expected)).toBe(true);
    }

    // revert the original to the first snapshot, after writing more
    await io.write(path, 20 * MIB, randomBytes(MIB), model);
    expect((await island.request('POST', `/v1/volumes/${volumeId}/detach`)).status).toBe(200);
    await io.until<Json>(`/v1/volumes/${volumeId}`, (v) => v.status === 'available', 'detach');
    expect((await island.request('POST', `/v1/volumes/${volumeId}/revert`, { snapshotId: first.id })).status).toBeLessThan(300);
    await io.until<Json>(`/v1/volumes/${volumeId}`, (v) => v.status === 'available' && v.statusReason === null, 'revert');
    expect((await io.read(path)).equals(atFirst)).toBe(true);
  }, 120_000);

  it('uploads and restores a volume whose blocks repeat by sending and fetching each distinct block once, bit-exact', async () => {
    const blockRequests = (method: string) =>
      island.swiftProxyLog('RegionOne').filter((l) => new RegExp(` ${method} /v1/AUTH_test/${island.container}/blocks/[0-9a-f]{64} `).test(l)).length;
    const putsBefore = blockRequests('PUT');
    const volumeId = await io.createVolume(size);
    const path = await io.attach(volumeId);
    const model = Buffer.alloc(size);
    const a = randomBytes(MIB);
    const b = randomBytes(MIB);
    // a, b, a, a, b, (hole), a … : two distinct blocks fill most of the volume, repeated in every batch
    for (let k = 0; k < size / MIB; k++) if (k % 6 !== 5) await io.write(path, k * MIB, k % 3 === 1 ? b : a, model);
    const snap = await io.snapshot(volumeId);
    expect(snap).toMatchObject({ blocksUploaded: 2 });
    const getsBefore = blockRequests('GET');
    const clone = await io.createVolume(size, { snapshotId: String(snap.id) });
    expect((await io.read(await io.attach(clone))).equals(model)).toBe(true);
    await new Promise((r) => setTimeout(r, 1000)); // the proxy's log line follows its reply
    expect(blockRequests('PUT') - putsBefore).toBe(2); // not once more by an overlapping batch (even refused)
    expect(blockRequests('GET') - getsBefore).toBe(2);
  });

  it('keeps projects apart and refuses bad requests without changing anything', async () => {
    const mine = await island.request('POST', '/v1/volumes', { name: 'private', sizeBytes: 4 * MIB });
    expect(mine.status).toBe(201);
    expect((await island.request('GET', `/v1/volumes/${mine.body.id}`, undefined, island.otherToken)).status).toBe(404);
    const theirs = await island.request<Json[] | { volumes: Json[] }>('GET', '/v1/volumes', undefined, island.otherToken);
    expect(JSON.stringify(theirs.body)).not.toContain(String(mine.body.id));
    const bad = await island.request('POST', '/v1/volumes', { sizeBytes: -1, colour: 'red' });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('property colour should not exist');
    expect((await island.request('GET', '/v1/volumes', undefined, 'not-a-token')).status).toBe(401);
    // an unplaced volume's snapshot commits at once and waits for a worker to write its manifest: with the workers
    // down it stays sealing (with them up, it could be available before the DELETE arrives)
    for (const worker of ['worker-1', 'worker-2']) await island.crash(worker);
    const snap = await island.request('POST', '/v1/snapshots', { volumeId: mine.body.id, name: 'unplaced' });
    expect(snap.status).toBe(202);
    const deleted = await island.request('DELETE', `/v1/snapshots/${snap.body.id}`);
    expect(deleted.status).toBe(409);
    expect((await island.request<Json>('GET', `/v1/snapshots/${snap.body.id}`)).body.status).toBe('sealing');
    for (const worker of ['worker-1', 'worker-2']) await island.revive(worker);
    await pollUntil(island, `/v1/snapshots/${snap.body.id}`, (s) => s.status === 'available');
  }, 60_000);
});
