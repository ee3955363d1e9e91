import { randomUUID } from 'node:crypto';
import { guestIo, useIsland } from '@island/stack';

const MIB = 1 << 20;
type Json = Record<string, unknown>;
type Page = { items: Json[]; nextMarker: string | null };

/**
 * Volume and snapshot lists come a page at a time (`limit`, `marker` = the previous page's last id, `nextMarker` while
 * more follow), on the real API and catalog: the pages put together are the whole list in its order, a page goes on
 * after a marker deleted meanwhile, and a marker the caller may not use is refused without saying whose it is.
 */
describe('lists a page at a time', () => {
  const island = useIsland({ env: { ISLAND_SNAPSHOT_RETENTION_SECONDS: '3600' } });
  const io = guestIo(island);

  async function page(path: string, key: string, token = island.token): Promise<Page> {
    const res = await island.request<Json>('GET', path, undefined, token);
    if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${JSON.stringify(res.body)}`);
    return { items: res.body[key] as Json[], nextMarker: res.body.nextMarker as string | null };
  }

  /** Every page of a list of `limit` items, following nextMarker. */
  async function walk(path: string, key: string, limit: number): Promise<Json[][]> {
    const pages: Json[][] = [];
    for (let marker: string | null = null; ;) {
      const query = new URLSearchParams({ limit: String(limit), ...(marker && { marker }) });
      const next = await page(`${path}${path.includes('?') ? '&' : '?'}${query.toString()}`, key);
      pages.push(next.items);
      if (next.items.length > 0) expect(next.nextMarker === null || next.nextMarker === next.items[next.items.length - 1].id).toBe(true);
      if (next.nextMarker === null) return pages;
      marker = next.nextMarker;
    }
  }

  const ids = (items: Json[]) => items.map((item) => item.id);

  it('puts the whole volume list together from pages of two, oldest first, the last page saying no more follow', async () => {
    for (let i = 0; i < 5; i++) await io.createVolume(MIB, { name: `paged-${i}` });
    const whole = await page('/v1/volumes', 'volumes');
    expect(whole.nextMarker).toBeNull();
    expect(whole.items.length).toBeGreaterThanOrEqual(5);
    const created = whole.items.map((v) => Date.parse(String(v.createdAt)));
    expect(created).toEqual([...created].sort((a, b) => a - b));

    const pages = await walk('/v1/volumes', 'volumes', 2);
    expect(pages.length).toBe(Math.ceil(whole.items.length / 2));
    for (const items of pages) expect(items.length).toBeLessThanOrEqual(2);
    expect(ids(pages.flat())).toEqual(ids(whole.items));

    // the CLI follows the pages unless told one
    expect(ids(island.json<{ volumes: Json[] }>('volume', 'list').volumes)).toEqual(ids(whole.items));
    const first = island.json<{ volumes: Json[]; nextMarker: string }>('volume', 'list', '--limit', '2');
    expect(ids(first.volumes)).toEqual(ids(whole.items.slice(0, 2)));
    expect(first.nextMarker).toBe(whole.items[1].id);
    const second = island.json<{ volumes: Json[] }>('volume', 'list', '--limit', '2', '--marker', first.nextMarker);
    expect(ids(second.volumes)).toEqual(ids(whole.items.slice(2, 4)));
  });

  it('goes on after a marker whose volume was deleted meanwhile, skipping and repeating none', async () => {
    const whole = (await page('/v1/volumes', 'volumes')).items;
    const first = await page('/v1/volumes?limit=2', 'volumes');
    await io.deleteVolume(String(first.nextMarker));
    const rest = await page(`/v1/volumes?marker=${first.nextMarker}`, 'volumes');
    expect(ids(rest.items)).toEqual(ids(whole.slice(2)));
  });

  it("refuses another project's marker as it refuses an unknown one, and never lists another project's volumes", async () => {
    const ours = await io.createVolume(MIB);
    const created = await island.request<Json>('POST', '/v1/volumes', { sizeBytes: MIB }, island.otherToken);
    expect(created.status).toBe(201);
    const theirs = String(created.body.id);
    const mine = ids((await page('/v1/volumes', 'volumes')).items);
    expect(mine).toContain(ours);
    expect(mine).not.toContain(theirs);
    expect(ids((await page('/v1/volumes', 'volumes', island.otherToken)).items)).toEqual([theirs]);

    for (const marker of [theirs, randomUUID()]) {
      const res = await island.request<Json>('GET', `/v1/volumes?marker=${marker}`);
      expect(res.status).toBe(400);
      expect(String(res.body.message)).toBe(`marker ${marker} is not a volume of this project (pass the previous page's nextMarker)`);
    }
    // the admin lists every project's, and may page from any of them
    const all = ids((await page('/v1/volumes', 'volumes', island.adminToken)).items);
    expect(all).toEqual(expect.arrayContaining([...mine, theirs]));
    const afterTheirs = await page(`/v1/volumes?marker=${theirs}`, 'volumes', island.adminToken);
    expect(ids(afterTheirs.items)).toEqual(all.slice(all.indexOf(theirs) + 1));
  });

  it.each([
    ['a limit of 0', '/v1/volumes?limit=0', /limit must be an integer from 1 to 1000, not "0"/],
    ['a limit above 1000', '/v1/snapshots?limit=1001', /limit must be an integer from 1 to 1000, not "1001"/],
    ['a limit that is not a number', '/v1/volumes?limit=ten', /limit must be an integer from 1 to 1000, not "ten"/],
    ['a marker that is not an id', '/v1/snapshots?marker=snap-1', /marker must be a snapshot id \(the previous page's nextMarker\), not "snap-1"/],
  ])('refuses %s, naming it', async (_what, path, message) => {
    const res = await island.request<Json>('GET', path);
    expect(res.status).toBe(400);
    expect(String(res.body.message)).toMatch(message);
  });

  it("pages a volume's snapshots in the order they were taken, and the recycle bin in the order it purges", async () => {
    const volumeId = await io.createVolume(4 * MIB);
    const path = await io.attach(volumeId);
    const taken: string[] = [];
    for (let i = 0; i < 4; i++) {
      await io.write(path, i * MIB, Buffer.alloc(MIB, i + 1));
      taken.push(String((await io.snapshot(volumeId)).id));
    }
    expect(ids((await walk(`/v1/snapshots?volumeId=${volumeId}`, 'snapshots', 1)).flat())).toEqual(taken);
    const everyone = (await page('/v1/snapshots', 'snapshots')).items;
    expect(ids((await walk('/v1/snapshots', 'snapshots', 3)).flat())).toEqual(ids(everyone));

    for (const id of [taken[2], taken[0], taken[1]]) expect((await island.request('DELETE', `/v1/snapshots/${id}`)).status).toBe(202);
    const bin = (await page('/v1/snapshots?deleted=true', 'snapshots')).items;
    expect(ids(bin)).toEqual([taken[2], taken[0], taken[1]]);
    expect(ids((await walk('/v1/snapshots?deleted=true', 'snapshots', 2)).flat())).toEqual(ids(bin));
    const rest = island.json<{ snapshots: Json[] }>('snapshot', 'list', '--deleted', '--marker', taken[2]);
    expect(ids(rest.snapshots)).toEqual([taken[0], taken[1]]);

    // the bin is ordered by purge time: a snapshot outside it has no place there
    const live = await island.request<Json>('GET', `/v1/snapshots?deleted=true&marker=${taken[3]}`);
    expect(live.status).toBe(400);
    expect(String(live.body.message)).toMatch(`marker ${taken[3]} is not a snapshot in the recycle bin of this project`);
  }, 120_000);
});
