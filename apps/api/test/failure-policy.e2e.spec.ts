import { randomBytes } from 'node:crypto';
import { guestIo, IslandStack, localSwift, startIsland } from '@island/stack';

const MIB = 1 << 20;
type Json = Record<string, unknown>;

/**
 * A job that fails for good ends the operation its contract names, with a reason a person can act on, and
 * is kept as a dead letter the admin can list; nothing is left `attaching`.
 */
describe('failures end their operation, and dead letters are kept', () => {
  let island: IslandStack;
  let io: ReturnType<typeof guestIo>;

  beforeAll(async () => {
    island = await startIsland();
    io = guestIo(island);
  }, 60_000);
  afterAll(() => island?.stop(), 60_000);

  it('ends an attach whose restore cannot read its manifest, lists the dead letter, and attaches once the manifest is back', async () => {
    const source = await io.createVolume(8 * MIB);
    const path = await io.attach(source);
    const model = Buffer.alloc(8 * MIB);
    await io.write(path, MIB, randomBytes(2 * MIB), model);
    const snapshot = await io.snapshot(source, 'gone');
    const clone = await io.createVolume(8 * MIB, { snapshotId: snapshot.id });

    const swift = localSwift('RegionOne');
    const manifests = [...(await island.swiftObjects(`manifests/${source}/`)).keys()];
    expect(manifests).toHaveLength(1);
    const [manifest] = manifests;
    const saved = await swift.getObject(island.container, manifest);
    await swift.deleteObject(island.container, manifest);
    try {
      expect((await island.request('POST', `/v1/volumes/${clone}/attach`, { host: island.host })).status).toBe(202);
      const failed = await io.until<Json>(`/v1/volumes/${clone}`, (v) => v.status !== 'attaching', 'the attach to end');
      expect(failed).toMatchObject({ status: 'available', host: null, attached: false });
      expect(String(failed.statusReason)).toMatch(new RegExp(`^volume\\.restore on ${island.host}: .*${manifest.replace(/[/.]/g, '.')}.*404`));

      // the restore job is a dead letter the admin sees (a project does not)
      const letters = await waitFor(async () => {
        const r = await island.request<{ deadLetters: Json[] }>('GET', '/v1/dead-letters', undefined, island.adminToken);
        return r.body.deadLetters?.find((d) => d.contract === 'volume.restore' && (d.payload as Json).volumeId === clone);
      });
      expect(String(letters.reason)).toMatch(/404/);
      expect((await island.request('GET', '/v1/dead-letters')).status).toBe(403);
      const listed = island.adminCli('ops', 'dead-letters');
      expect(listed.code).toBe(0);
      expect(listed.stdout).toContain('volume.restore');
      // its operation is over: re-sending the job is refused with what to do instead
      const retry = island.adminCli('ops', 'retry', String(letters.id));
      expect(retry.code).not.toBe(0);
      expect(retry.stderr).toMatch(/ended its volume-operation; start that again/);
    } finally {
      await swift.putObject(island.container, manifest, saved);
      await swift.close();
    }

    const clonePath = await io.attach(clone);
    expect((await io.read(clonePath)).equals(model)).toBe(true);
    expect(island.json<{ operations: Json[] }>('ops', 'list', '--stuck').operations).toEqual([]);
  }, 120_000);
});

async function waitFor<T>(probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await probe();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 250));
  }
}
