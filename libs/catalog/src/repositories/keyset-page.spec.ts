import { LedgerFixture } from '../testing/ledger-fixture';
import { Page } from './keyset-page';
import { VolumeEntity } from '../entities/volume.entity';
import { VolumeRepository } from './volume.repository';

const PROJECT_ROWS = 20_000;

/**
 * A page of the volume list on a catalog of 40,000 volumes in two projects, many of them created in one statement
 * (the same `created_at` to the microsecond): pages follow one another by the last row's keys, read from the index.
 */
describe('a page of a list after a marker', () => {
  let f: LedgerFixture;
  let firstProjectOrder: string[];

  beforeAll(async () => {
    f = await LedgerFixture.create();
    const region = await f.newRegion();
    await f.sql(`INSERT INTO project (id) VALUES ('q')`);
    for (const project of ['p', 'q']) {
      // four statements: four runs of rows sharing a creation time, told apart by id alone
      for (let run = 0; run < 4; run++) {
        await f.sql(
          `INSERT INTO volume (id, project_id, region, size_bytes, block_size, status, deleted_at)
           SELECT gen_random_uuid(), $1, $2, 1048576, 1048576, 'available', CASE WHEN i % 10 = 0 THEN now() END
             FROM generate_series(1, $3) i`,
          [project, region, PROJECT_ROWS / 4],
        );
      }
    }
    await f.sql(`ANALYZE volume`);
    const rows = await f.sql<{ id: string }>(`SELECT id FROM volume WHERE project_id = 'p' AND deleted_at IS NULL ORDER BY created_at, id`);
    firstProjectOrder = rows.map((r) => r.id);
  }, 60_000);
  afterAll(() => f?.drop());

  const volumes = () => new VolumeRepository(f.dataSource.manager);
  const ids = (page: Page<VolumeEntity> | null) => page?.items.map((v) => v.id) ?? [];

  it("walks a project's whole list in pages of 1,000, each one after the last, none repeated nor skipped", async () => {
    const walked: string[] = [];
    let pages = 0;
    for (let marker: string | undefined; ;) {
      const page = await volumes().page('p', { marker, limit: 1000 });
      pages++;
      walked.push(...ids(page));
      if (!page?.nextMarker) break;
      marker = page.nextMarker;
    }
    expect(firstProjectOrder.length).toBe(PROJECT_ROWS * 0.9);
    expect(pages).toBe(firstProjectOrder.length / 1000);
    expect(walked).toEqual(firstProjectOrder);
  });

  it("is null for another project's row as the marker, and an admin's page may start from any project's", async () => {
    const [theirs] = await f.sql<{ id: string }>(`SELECT id FROM volume WHERE project_id = 'q' AND deleted_at IS NULL LIMIT 1`);
    expect(await volumes().page('p', { marker: theirs.id, limit: 10 })).toBeNull();
    expect(await volumes().page('p', { marker: '00000000-0000-4000-8000-000000000000', limit: 10 })).toBeNull();
    const admin = await volumes().page(undefined, { marker: theirs.id, limit: 10 });
    expect(admin?.items).toHaveLength(10);
  });

  it('reads a page late in the list from the project index, without sorting the project', async () => {
    const marker = firstProjectOrder[15_000];
    const runner = f.dataSource.createQueryRunner();
    try {
      const statements: [string, unknown[]][] = [];
      const run = runner.query.bind(runner);
      runner.query = ((sql: string, params?: unknown[], structured?: boolean) => {
        statements.push([sql, params ?? []]);
        return run(sql, params, structured as true);
      }) as typeof runner.query;
      const page = await new VolumeRepository(runner.manager).page('p', { marker, limit: 5 });
      expect(ids(page)).toEqual(firstProjectOrder.slice(15_001, 15_006));
      const [sql, params] = statements[statements.length - 1];
      const plan = ((await run(`EXPLAIN ${sql}`, params)) as { 'QUERY PLAN': string }[]).map((r) => r['QUERY PLAN']).join('\n');
      expect(plan).toMatch(/Index Scan using volume_project on volume/);
      expect(plan).not.toMatch(/Sort/);
    } finally {
      await runner.release();
    }
  });
});
