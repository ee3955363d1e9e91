import { createTestDatabase, TestDatabase } from './testing/test-database';

describe('catalog data source', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => db?.drop());

  it('runs its sessions without JIT compilation', async () => {
    expect(await db.dataSource.query(`SHOW jit`)).toEqual([{ jit: 'off' }]);
  });
});
