import { useIsland } from '@island/stack';

type Json = Record<string, unknown>;

/** `island regions`: the configured regions, their Swift and hosts, and what each project keeps there. */
describe('regions', () => {
  const island = useIsland();

  const regions = (admin = false): Json[] => (admin ? island.adminJson<{ regions: Json[] }>('regions') : island.json<{ regions: Json[] }>('regions')).regions;

  it("lists the configured region with its Swift, its hosts and the caller's volumes, never credentials", async () => {
    expect(regions()).toEqual([
      {
        name: 'RegionOne',
        default: true,
        swiftAuthUrl: 'http://127.0.0.1:8080/auth/v1.0',
        container: island.container,
        hostsOnline: 1,
        volumes: 0,
        snapshots: 0,
      },
    ]);
    expect((await island.request('POST', '/v1/volumes', { sizeBytes: 1 << 20 })).status).toBe(201);
    expect(regions()[0]).toMatchObject({ volumes: 1 });
    expect(regions(true)[0]).toMatchObject({ volumes: 1 });
    const other = await island.request<{ regions: Json[] }>('GET', '/v1/regions', undefined, island.otherToken);
    expect(other.body.regions[0]).toMatchObject({ name: 'RegionOne', volumes: 0 });
    expect(JSON.stringify(other.body)).not.toMatch(/testing|tester/);
  });
});
