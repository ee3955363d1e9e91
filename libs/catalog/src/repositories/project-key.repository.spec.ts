import { createTestDatabase, TestDatabase } from '../testing/test-database';
import { ProjectKeyRepository, StaleKekError } from './project-key.repository';

describe('projects’ wrapped keys in the catalog', () => {
  let db: TestDatabase;
  let keys: ProjectKeyRepository;

  beforeAll(async () => {
    db = await createTestDatabase();
    keys = new ProjectKeyRepository(db.dataSource.manager);
  });
  afterAll(async () => db?.drop());

  it('keeps the first key a project gets, and gives every later writer that one', async () => {
    const first = await keys.keep('alpha', 'kek-1', { sealed: 'first' });
    const second = await keys.keep('alpha', 'kek-1', { sealed: 'second' });
    expect(first).toMatchObject({ projectId: 'alpha', kekId: 'kek-1', wrapped: { sealed: 'first' }, shreddedAt: null });
    expect(second.wrapped).toEqual({ sealed: 'first' });
    expect(await keys.find('nobody')).toBeNull();
  });

  it('re-wraps a key sealed by the old KEK once, and lists what each KEK seals', async () => {
    await keys.keep('beta', 'kek-1', { sealed: 'beta' });
    expect((await keys.sealedBy('kek-1')).map((k) => k.projectId)).toEqual(['alpha', 'beta']);
    expect(await keys.rewrap('beta', 'kek-1', 'kek-2', { sealed: 'beta by kek-2' })).toBe(true);
    expect(await keys.rewrap('beta', 'kek-1', 'kek-2', { sealed: 'again' })).toBe(false);
    expect(await keys.find('beta')).toMatchObject({ kekId: 'kek-2', wrapped: { sealed: 'beta by kek-2' } });
    expect((await keys.sealedBy('kek-1')).map((k) => k.projectId)).toEqual(['alpha']);
  });

  it('shreds a key for good: nothing left to unwrap, not re-wrapped, not kept again', async () => {
    await keys.keep('gamma', 'kek-1', { sealed: 'gamma' });
    expect(await keys.shred('gamma')).toBe(true);
    expect(await keys.shred('gamma')).toBe(false);
    const shredded = await keys.find('gamma');
    expect(shredded).toMatchObject({ wrapped: null, shreddedAt: expect.any(Date) });
    expect(await keys.rewrap('gamma', 'kek-1', 'kek-2', { sealed: 'x' })).toBe(false);
    expect((await keys.keep('gamma', 'kek-1', { sealed: 'new' })).wrapped).toBeNull();
  });

  it('keeps a new key only under the current KEK, which a rotation switches once the keys being kept have been', async () => {
    await keys.setCurrentKek('kek-2');
    await expect(keys.keep('delta', 'kek-1', { sealed: 'delta by kek-1' })).rejects.toThrow(StaleKekError);
    await expect(keys.keep('delta', 'kek-1', { sealed: 'delta by kek-1' })).rejects.toThrow('no longer the current one (kek-2)');
    expect(await keys.find('delta')).toBeNull();
    expect(await keys.keep('delta', 'kek-2', { sealed: 'delta by kek-2' })).toMatchObject({ kekId: 'kek-2' });

    // a key being kept under kek-2 holds the switch to kek-3 back until it is committed
    const keeping = db.dataSource.createQueryRunner();
    await keeping.connect();
    await keeping.startTransaction();
    await keeping.query(`SELECT current_kek_id FROM kek_state WHERE id = 1 FOR SHARE`);
    let switched = false;
    const rotation = keys.setCurrentKek('kek-3').then(() => (switched = true));
    await new Promise((r) => setTimeout(r, 300));
    expect(switched).toBe(false);
    await keeping.commitTransaction();
    await keeping.release();
    await rotation;
    expect(switched).toBe(true);
  });
});
