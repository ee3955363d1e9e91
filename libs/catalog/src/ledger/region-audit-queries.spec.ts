import { createHash } from 'node:crypto';
import { createTestDatabase, TestDatabase } from '../testing/test-database';
import { presentBlockCount, regionBlocksBetween } from './region-audit-queries';

const REGION = 'r1';
const hashOf = (n: number) => createHash('sha256').update(`block ${n}`).digest();

describe("fsck's walk of a region's blocks", () => {
  let db: TestDatabase;
  const states = ['present', 'uploading', 'deleting'] as const;
  const mine = Array.from({ length: 60 }, (_, i) => ({ hash: hashOf(i), state: states[i % 3] }));
  const sorted = [...mine].sort((a, b) => Buffer.compare(a.hash, b.hash));

  beforeAll(async () => {
    db = await createTestDatabase();
    const q = (text: string, params: unknown[] = []) => db.dataSource.query(text, params);
    await q(`INSERT INTO region (name, container) VALUES ('${REGION}', 'c'), ('r2', 'c')`);
    for (const b of mine) await q(`INSERT INTO block (region, hash, size, stored_size, state) VALUES ($1, $2, 100, 140, $3)`, [REGION, b.hash, b.state]);
    // the same hashes in another region: never part of this one's walk
    for (const b of mine.slice(0, 20)) await q(`INSERT INTO block (region, hash, size, state) VALUES ('r2', $1, 100, 'present')`, [b.hash]);
  });
  afterAll(async () => db?.drop());

  it('reads the rows of (after, upTo] in hash order, a page at a time, every state, this region only', async () => {
    const m = db.dataSource.manager;
    const hex = (rows: { hash: Buffer }[]) => rows.map((r) => r.hash.toString('hex'));
    const walked: { hash: Buffer; state: string; storedSize: number }[] = [];
    for (let after: Buffer | null = null; ;) {
      const page = await regionBlocksBetween(m, REGION, after, null, 7);
      walked.push(...page);
      if (page.length < 7) break;
      after = page[page.length - 1].hash;
    }
    expect(hex(walked)).toEqual(hex(sorted));
    expect(walked.map((r) => r.state)).toEqual(sorted.map((r) => r.state));
    expect(walked.every((r) => r.storedSize === 140)).toBe(true);

    const range = await regionBlocksBetween(m, REGION, sorted[9].hash, sorted[30].hash, 1000);
    expect(hex(range)).toEqual(hex(sorted.slice(10, 31)));
    expect(hex(await regionBlocksBetween(m, REGION, null, sorted[4].hash, 1000))).toEqual(hex(sorted.slice(0, 5)));
    expect(await regionBlocksBetween(m, REGION, sorted[59].hash, null, 1000)).toEqual([]);
    expect(await presentBlockCount(m, REGION)).toBe(20);
  });
});
