import { createHash, randomUUID } from 'node:crypto';
import { EntityManager } from 'typeorm';
import { createTestDatabase, TestDatabase } from '../testing/test-database';
import { countedEntriesAt, countEntriesAt, entriesAt, LedgerEntry } from './ledger-entries';

describe('entriesAt', () => {
  let db: TestDatabase;
  const volumeId = randomUUID();
  /** More than two pages: block i holds sha256(i) from seq 1; every third block was rewritten at seq 3 and every fifth is a hole. */
  const BLOCKS = 40_000;

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.dataSource.query(`
      INSERT INTO project (id) VALUES ('p');
      INSERT INTO region (name, container) VALUES ('r1', 'c');
      INSERT INTO volume (id, project_id, region, size_bytes, block_size, status) VALUES ('${volumeId}', 'p', 'r1', ${BLOCKS * 65536}, 65536, 'available');
      INSERT INTO block_version (volume_id, block_index, hash, first_seq, last_seq)
        SELECT '${volumeId}', i, sha256(int8send(i)), 1, CASE WHEN i % 3 = 0 THEN 3 END FROM generate_series(0, ${BLOCKS - 1}) AS i WHERE i % 5 <> 0;
      INSERT INTO block_version (volume_id, block_index, hash, first_seq)
        SELECT '${volumeId}', i, sha256(int8send(-i)), 3 FROM generate_series(0, ${BLOCKS - 1}) AS i WHERE i % 5 <> 0 AND i % 3 = 0;`);
  });
  afterAll(async () => db?.drop());

  async function allEntriesAt(seq: number): Promise<LedgerEntry[]> {
    const entries: LedgerEntry[] = [];
    for await (const page of entriesAt(db.dataSource.manager, volumeId, seq)) entries.push(...page);
    return entries;
  }

  it('gives every block live at a sequence number once, in block order, across pages, as numbered entries', async () => {
    const entries = await allEntriesAt(2);
    const expected = Array.from({ length: BLOCKS }, (_, i) => i).filter((i) => i % 5 !== 0);
    expect(entries.map((e) => e.index)).toEqual(expected);
    expect(entries.every((e) => typeof e.index === 'number' && Buffer.isBuffer(e.hash) && e.hash.length === 32)).toBe(true);
    expect(await countEntriesAt(db.dataSource.manager, volumeId, 2)).toBe(expected.length);
  });

  it('counts the entries it gives, however many pages they fill, and gives them again when walked again', async () => {
    const statements = countingStatements(db);
    const many = await countedEntriesAt(statements.manager, volumeId, 2);
    expect(statements.count()).toBe(2); // its first page, then the count
    const text = (entries: LedgerEntry[]) => entries.map((e) => `${e.index} ${e.hash.toString('hex')}`).join('\n');
    const expected = await allEntriesAt(2);
    expect(many.count).toBe(expected.length);
    for (let walk = 0; walk < 2; walk++) {
      const entries: LedgerEntry[] = [];
      for await (const page of many.pages()) entries.push(...page);
      expect(text(entries)).toBe(text(expected));
    }
  });

  it('counts a volume of one page, or of none, from what it read', async () => {
    const small = randomUUID();
    await db.dataSource.query(`
      INSERT INTO volume (id, project_id, region, size_bytes, block_size, status) VALUES ('${small}', 'p', 'r1', ${100 * 65536}, 65536, 'available');
      INSERT INTO block_version (volume_id, block_index, hash, first_seq) SELECT '${small}', i, sha256(int8send(i)), 1 FROM generate_series(0, 99) AS i;`);
    const statements = countingStatements(db);
    const one = await countedEntriesAt(statements.manager, small, 1);
    const none = await countedEntriesAt(statements.manager, small, 0);
    expect(statements.count()).toBe(2); // one page read for each, no count
    const pages = async (entries: typeof one) => {
      const got: LedgerEntry[][] = [];
      for await (const page of entries.pages()) got.push(page);
      return got;
    };
    expect(one.count).toBe(100);
    expect((await pages(one)).map((page) => page.map((e) => e.index))).toEqual([Array.from({ length: 100 }, (_, i) => i)]);
    expect(none.count).toBe(0);
    expect(await pages(none)).toEqual([]);
  });

  it("gives the version each block had at that sequence number, not the head's", async () => {
    const before = await allEntriesAt(2);
    const after = await allEntriesAt(3);
    const rewritten = (entries: LedgerEntry[]) => entries.filter((e) => e.index % 3 === 0).map((e) => e.hash.equals(sha256OfIndex(-e.index)));
    expect(rewritten(before).every((was) => !was)).toBe(true);
    expect(rewritten(after).every((is) => is)).toBe(true);
    expect(after.find((e) => e.index === 1)?.hash.equals(sha256OfIndex(1))).toBe(true);
  });
});

/** The test database's manager, counting the statements sent through it. */
function countingStatements(db: TestDatabase): { manager: EntityManager; count(): number } {
  let sent = 0;
  const manager = db.dataSource.manager;
  const counting = new Proxy(manager, {
    get: (target, key, receiver) =>
      key === 'query'
        ? (...args: Parameters<EntityManager['query']>) => {
            sent++;
            return target.query(...args);
          }
        : Reflect.get(target, key, receiver),
  });
  return { manager: counting, count: () => sent };
}

/** sha256 of an index as PostgreSQL's int8send gives it (8 bytes, big-endian). */
function sha256OfIndex(i: number): Buffer {
  const bytes = Buffer.alloc(8);
  bytes.writeBigInt64BE(BigInt(i));
  return createHash('sha256').update(bytes).digest();
}
