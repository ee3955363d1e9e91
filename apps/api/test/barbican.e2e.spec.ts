import { randomBytes, randomUUID } from 'node:crypto';
import { BarbicanKekSource } from '@island/blockstore';
import { guestIo, IslandStack, localKeystone, pollUntil, startIsland } from '@island/stack';

const MIB = 1 << 20;
const SIZE = 4 * MIB;
type Json = Record<string, unknown>;

/**
 * OpenStack Barbican as the key manager (ISLAND_KEK_MANAGER=barbican, behind the local Keystone; found through
 * Keystone's catalog): the KEK is a Barbican secret, a snapshot is sealed under a project key it wraps, and a rotation
 * makes a new secret current and deletes the old one, while the snapshot keeps restoring.
 */
describe('Barbican as the key manager', () => {
  const secretName = `island_kek_e2e_${randomUUID().slice(0, 8)}`;
  const keystone = localKeystone.islandEnv();
  const barbican = new BarbicanKekSource({
    keystone: {
      url: keystone.ISLAND_KEYSTONE_URL,
      user: keystone.ISLAND_KEYSTONE_USER,
      password: keystone.ISLAND_KEYSTONE_PASSWORD,
      project: keystone.ISLAND_KEYSTONE_PROJECT,
      domain: keystone.ISLAND_KEYSTONE_DOMAIN,
    },
    secretName,
  });
  let island: IslandStack;
  const tokens: Record<string, string> = {};

  beforeAll(async () => {
    // one worker: restarting it clears every cached project key
    island = await startIsland({ workers: 1, env: { ...keystone, ISLAND_KEK_MANAGER: 'barbican', ISLAND_BARBICAN_SECRET_NAME: secretName } });
    tokens.alice = (await localKeystone.token('alice')).token;
    tokens.admin = (await localKeystone.token('admin')).token;
  }, 180_000);
  afterAll(async () => {
    await island?.stop();
    // the run's secrets: every one but the current is retired by the test; the current one goes with a last rotation
    const kept = await barbican.rotate().catch(() => undefined);
    if (kept) await barbican.retireAllBut(kept.id).catch(() => undefined);
  }, 60_000);

  /** The stack as a Keystone user calls it (X-Auth-Token). */
  const as = (token: string): IslandStack => ({
    ...island,
    request: async <T>(method: string, path: string, body?: object) => {
      const res = await fetch(`${island.api}${path}`, {
        method,
        headers: { 'x-auth-token': token, ...(body && { 'content-type': 'application/json' }) },
        body: body ? JSON.stringify(body) : undefined,
      });
      const text = await res.text();
      return { status: res.status, body: (text ? JSON.parse(text) : {}) as T };
    },
  });

  it('seals a snapshot under a key Barbican’s KEK wraps, rotates that KEK, and restores bit-exact before and after', async () => {
    const io = guestIo(as(tokens.alice));
    const volumeId = await io.createVolume(SIZE);
    const model = Buffer.alloc(SIZE);
    await io.write(await io.attach(volumeId), 0, randomBytes(2 * MIB), model);
    const snapshot = await io.snapshot(volumeId);

    const admin = as(tokens.admin);
    const keys = (await admin.request<{ keys: Json[] }>('GET', '/v1/keys')).body.keys;
    const first = await barbican.current();
    expect(keys).toEqual([expect.objectContaining({ kekId: first.id, shreddedAt: null })]);
    const clone = await io.createVolume(SIZE, { snapshotId: snapshot.id });
    expect((await io.read(await io.attach(clone))).equals(model)).toBe(true);

    const started = await admin.request<Json>('POST', '/v1/keys/rotate', {});
    expect(started.status).toBe(202);
    const done = await pollUntil(admin, `/v1/operations/${String(started.body.id)}`, (o) => o.status !== 'running', { timeoutMs: 60_000 });
    expect(done).toMatchObject({ status: 'succeeded', result: { rewrapped: 1 } });
    // processes that start together may each store a KEK (all but the newest unused); the rotation retires them all
    const retired = (done.result as Json).retiredKeks as string[];
    expect(retired).toContain(first.id);
    const second = await barbican.current();
    expect(second.id).toBe((done.result as Json).kekId);
    expect(retired).not.toContain(second.id);
    expect(await barbican.find(first.id)).toBeUndefined();

    // a worker that never saw the first KEK opens the project's key with the second
    await island.crash('worker-1');
    await island.revive('worker-1');
    const again = await io.createVolume(SIZE, { snapshotId: snapshot.id });
    expect((await io.read(await io.attach(again))).equals(model)).toBe(true);
  }, 240_000);
});
