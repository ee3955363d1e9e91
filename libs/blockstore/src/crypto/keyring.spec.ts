import { randomBytes } from 'node:crypto';
import { Kek, KekSource } from './kek-source';
import { KeyUnwrapError, kekId } from './key-wrapping';
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

/** KEKs in memory. */
class MemoryKeks implements KekSource {
  readonly description = 'memory KEKs';
  keks: Kek[] = [];

  constructor(key = randomBytes(32)) {
    this.keks.push({ id: kekId(key), key });
  }

  async current() {
    return this.keks[0];
  }

  async find(id: string) {
    return this.keks.find((k) => k.id === id);
  }

  async rotate() {
    const key = randomBytes(32);
    this.keks.unshift({ id: kekId(key), key });
    return this.keks[0];
  }

  async retireAllBut(keep: string) {
    const gone = this.keks.filter((k) => k.id !== keep).map((k) => k.id);
    this.keks = this.keks.filter((k) => k.id === keep);
    return gone;
  }
}

describe('the keyring', () => {
  it('makes a project key for its first new data only, keeps only its wrapping, and gives every process the same keys', async () => {
    const store = new MemoryKeyStore();
    const keks = new MemoryKeks();
    expect(await new Keyring(keks, store).keysFor('p1')).toBeUndefined(); // reading makes no key
    expect(store.rows.size).toBe(0);
    const a = await new Keyring(keks, store).keysForNewData('p1');
    const b = (await new Keyring(keks, store).keysFor('p1'))!;
    expect(a.naming.equals(b.naming)).toBe(true);
    expect(JSON.stringify([...store.rows.values()])).not.toContain(a.encryption.toString('base64'));
    expect((await new Keyring(keks, store).keysForNewData('p2')).naming.equals(a.naming)).toBe(false);
  });

  it('refuses a project whose key was shredded, once its cached keys have expired, and makes it no new one', async () => {
    const store = new MemoryKeyStore();
    let now = 0;
    const keyring = new Keyring(new MemoryKeks(), store, () => now);
    await keyring.keysForNewData('p1');
    store.shred('p1');
    await expect(keyring.keysFor('p1')).resolves.toBeDefined(); // still cached
    now += KEYRING_CACHE_MS + 1;
    await expect(keyring.keysFor('p1')).rejects.toThrow(ProjectKeyShreddedError);
    await expect(keyring.keysForNewData('p1')).rejects.toThrow(/was shredded at .*: its snapshots can no longer be read/);
  });

  it('opens keys sealed by an earlier KEK until it is retired, then names the KEK it needs', async () => {
    const store = new MemoryKeyStore();
    const keks = new MemoryKeks();
    const before = await new Keyring(keks, store).keysForNewData('p1');
    const old = (await keks.current()).id;
    await keks.rotate();
    expect((await new Keyring(keks, store).keysFor('p1'))!.naming.equals(before.naming)).toBe(true);
    await keks.retireAllBut((await keks.current()).id);
    await expect(new Keyring(keks, store).keysFor('p1')).rejects.toThrow(KeyUnwrapError);
    await expect(new Keyring(keks, store).keysFor('p1')).rejects.toThrow(`sealed by KEK ${old}, which memory KEKs does not hold`);
  });

  it('wraps a new key by the KEK a rotation made current while it was being kept', async () => {
    const keks = new MemoryKeks();
    const store = new MemoryKeyStore();
    let refusals = 1;
    const keep = store.keep.bind(store);
    store.keep = async (projectId, kekId, wrapped) => {
      if (refusals-- > 0) {
        await keks.rotate(); // the rotation switched the current KEK under this keep
        throw Object.assign(new Error(`KEK ${kekId} is not current`), { staleKek: true });
      }
      return keep(projectId, kekId, wrapped);
    };
    await new Keyring(keks, store).keysForNewData('p1');
    expect(store.rows.get('p1')?.kekId).toBe((await keks.current()).id);
  });
});
