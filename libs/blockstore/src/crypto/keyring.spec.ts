import { randomBytes } from 'node:crypto';
import { KeyUnwrapError } from './key-wrapping';
import { Keyring, KEYRING_CACHE_MS, ProjectKeyShreddedError, ProjectKeyStore } from './keyring';

/** The catalog's part, in memory: first writer wins, shredding forgets the key. */
class MemoryKeyStore implements ProjectKeyStore {
  readonly rows = new Map<string, { kekId: string; wrapped: Record<string, unknown> | null; shreddedAt: Date | null }>();
  async find(projectId: string) {
    return this.rows.get(projectId) ?? null;
  }
  async keep(projectId: string, kekId: string, wrapped: Record<string, unknown>) {
    if (!this.rows.has(projectId)) this.rows.set(projectId, { kekId, wrapped, shreddedAt: null });
    return this.rows.get(projectId) as NonNullable<ReturnType<MemoryKeyStore['rows']['get']>>;
  }
  shred(projectId: string) {
    const row = this.rows.get(projectId);
    if (row) this.rows.set(projectId, { ...row, wrapped: null, shreddedAt: new Date(0) });
  }
}

describe('the keyring', () => {
  const kek = randomBytes(32);

  it('makes a project key on first use, keeps only its wrapping, and gives every process the same keys', async () => {
    const store = new MemoryKeyStore();
    const a = await new Keyring(kek, store).keysFor('p1');
    const b = await new Keyring(kek, store).keysFor('p1');
    expect(a.naming.equals(b.naming)).toBe(true);
    expect(JSON.stringify([...store.rows.values()])).not.toContain(a.encryption.toString('base64'));
    expect((await new Keyring(kek, store).keysFor('p2')).naming.equals(a.naming)).toBe(false);
  });

  it('refuses a project whose key was shredded, once its cached keys have expired', async () => {
    const store = new MemoryKeyStore();
    let now = 0;
    const keyring = new Keyring(kek, store, () => now);
    await keyring.keysFor('p1');
    store.shred('p1');
    await expect(keyring.keysFor('p1')).resolves.toBeDefined(); // still cached
    now += KEYRING_CACHE_MS + 1;
    await expect(keyring.keysFor('p1')).rejects.toThrow(ProjectKeyShreddedError);
    await expect(keyring.keysFor('p1')).rejects.toThrow(/was shredded at .*: its snapshots can no longer be read/);
  });

  it('names the KEK it needs when given another', async () => {
    const store = new MemoryKeyStore();
    await new Keyring(kek, store).keysFor('p1');
    await expect(new Keyring(randomBytes(32), store).keysFor('p1')).rejects.toThrow(KeyUnwrapError);
    await expect(new Keyring(randomBytes(32), store).keysFor('p1')).rejects.toThrow(/sealed by KEK [0-9a-f]{16}; this process has KEK/);
  });
});
