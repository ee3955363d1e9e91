import { createHash, randomBytes } from 'node:crypto';
import { guestIo, IslandStack, localKeystone, startIsland } from '@island/stack';

const MIB = 1 << 20;

/**
 * Swift behind Keystone (authtoken + keystoneauth, the proxy scripts/services.sh starts with
 * ISLAND_SWIFT_KEYSTONE=1): island logs in with its service user's v3 credentials and finds its Swift in the
 * token's catalog; snapshots go there and restore bit-exact.
 */
describe('Swift through Keystone', () => {
  let island: IslandStack;

  beforeAll(async () => {
    const keystone = localKeystone.islandEnv();
    if (!keystone.ISLAND_KEYSTONE_SWIFT_URL) throw new Error('start the services with ISLAND_SWIFT_KEYSTONE=1 (npm test does)');
    const region = {
      name: 'RegionOne',
      authUrl: keystone.ISLAND_KEYSTONE_URL,
      user: keystone.ISLAND_KEYSTONE_USER,
      key: keystone.ISLAND_KEYSTONE_PASSWORD,
      project: keystone.ISLAND_KEYSTONE_PROJECT,
      domain: keystone.ISLAND_KEYSTONE_DOMAIN,
      container: `island-e2e-keystone-${randomBytes(4).toString('hex')}`,
    };
    island = await startIsland({ env: { ISLAND_REGIONS: JSON.stringify([region]) } });
  }, 90_000);
  afterAll(async () => {
    await island?.stop();
  }, 60_000);

  it('stores snapshots in a Keystone-authenticated Swift and restores them bit-exact', async () => {
    const io = guestIo(island);
    const volume = await io.createVolume(16 * MIB);
    const path = await io.attach(volume);
    const model = Buffer.alloc(16 * MIB);
    await io.write(path, 3 * MIB, randomBytes(5 * MIB), model);
    const snapshot = await io.snapshot(volume);
    expect(snapshot).toMatchObject({ status: 'available', blocksUploaded: 5 });
    const clone = await io.createVolume(16 * MIB, { snapshotId: snapshot.id });
    const restored = await io.read(await io.attach(clone));
    expect(createHash('sha256').update(restored).digest('hex')).toBe(createHash('sha256').update(model).digest('hex'));
    expect(island.adminJson('fsck', '--deep')).toMatchObject({ ok: true });
  }, 120_000);
});
