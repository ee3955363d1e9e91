import { KekSource } from './kek-source';
import { KeyUnwrapError, unwrapProjectKey, WrappedProjectKey, wrapProjectKey } from './key-wrapping';
import { ProjectKeys } from './project-keys';

/** Where projects' wrapped keys are kept (the catalog's ProjectKeyRepository has this shape). */
export interface ProjectKeyStore {
  find(projectId: string): Promise<StoredKey | null>;
  /** Keeps a new project's key unless it has one; returns the key it has (the first writer's). Throws an error with `staleKek` when `kekId` is no longer the current KEK. */
  keep(projectId: string, kekId: string, wrapped: Record<string, unknown>): Promise<StoredKey>;
}

export interface StoredKey {
  kekId: string;
  wrapped: Record<string, unknown> | null;
  shreddedAt: Date | null;
}

/** A project whose key was shredded: its snapshots cannot be read, and it gets no new key (it would read nothing). */
export class ProjectKeyShreddedError extends Error {
  readonly permanent = true;

  constructor(projectId: string, at: Date | null) {
    super(`the key of project ${projectId} was shredded${at ? ` at ${at.toISOString()}` : ''}: its snapshots can no longer be read`);
    this.name = 'ProjectKeyShreddedError';
  }
}

/**
 * How long a process keeps a project's unwrapped keys: after a shredding, lookups refuse within this bound (a
 * restore already holding the keys finishes). Shredding erases for good only once the KEK has also been rotated away
 * from: until then the wrapped key lingers in the database's old row versions, WAL and backups.
 */
export const KEYRING_CACHE_MS = 60_000;
/** Attempts to keep a new key while rotations replace the current KEK under it. */
const KEEP_ATTEMPTS = 3;

/**
 * A process's view of projects' keys: unwraps a project's master key with the KEK that sealed it, makes and keeps one
 * (wrapped by the current KEK) for a project's first new data, and keeps the derived keys for KEYRING_CACHE_MS.
 * Reading never makes a key.
 */
export class Keyring {
  private readonly cache = new Map<string, { keys: Promise<ProjectKeys>; until: number }>();

  constructor(
    readonly keks: KekSource,
    private readonly store: ProjectKeyStore,
    private readonly now: () => number = Date.now,
  ) {}

  /** The project's keys; undefined when it has none (nothing of it was ever sealed). */
  async keysFor(projectId: string): Promise<ProjectKeys | undefined> {
    const cached = this.cache.get(projectId);
    if (cached && cached.until > this.now()) return cached.keys;
    const stored = await this.store.find(projectId);
    if (!stored) return undefined;
    return this.remember(projectId, this.open(projectId, stored));
  }

  /** The project's keys, made and kept (wrapped by the current KEK) when it has none yet. */
  async keysForNewData(projectId: string): Promise<ProjectKeys> {
    const existing = await this.keysFor(projectId);
    if (existing) return existing;
    const master = ProjectKeys.newMasterKey();
    return this.remember(
      projectId,
      this.keep(projectId, master).then((stored) => this.open(projectId, stored)),
    );
  }

  /**
   * Keeps a project's master key, wrapped by the current KEK (re-read when a rotation replaced it meanwhile). Returns
   * what the project has: this key, or the one another process kept first.
   */
  async keep(projectId: string, master: Buffer): Promise<StoredKey> {
    for (let attempt = 1; ; attempt++) {
      const kek = await this.keks.current();
      try {
        return await this.store.keep(projectId, kek.id, { ...wrapProjectKey(kek.key, projectId, master) });
      } catch (error) {
        if (!(error as { staleKek?: boolean }).staleKek || attempt >= KEEP_ATTEMPTS) throw error;
      }
    }
  }

  /** Forgets the cached keys (after a rotation or a shredding in this process). */
  forget(projectId?: string): void {
    if (projectId === undefined) this.cache.clear();
    else this.cache.delete(projectId);
  }

  /** Opens a stored key: its master key, with the KEK that sealed it. */
  async unwrap(projectId: string, stored: StoredKey): Promise<Buffer> {
    if (!stored.wrapped) throw new ProjectKeyShreddedError(projectId, stored.shreddedAt);
    const kek = await this.keks.find(stored.kekId);
    if (!kek) {
      throw new KeyUnwrapError(
        `the key of project ${projectId} is sealed by KEK ${stored.kekId}, which ${this.keks.description} does not hold (retired too early, or the wrong key manager)`,
      );
    }
    return unwrapProjectKey(kek.key, projectId, stored.wrapped as unknown as WrappedProjectKey);
  }

  private async open(projectId: string, stored: StoredKey): Promise<ProjectKeys> {
    return new ProjectKeys(projectId, await this.unwrap(projectId, stored));
  }

  private remember(projectId: string, keys: Promise<ProjectKeys>): Promise<ProjectKeys> {
    this.cache.set(projectId, { keys, until: this.now() + KEYRING_CACHE_MS });
    keys.catch(() => this.cache.delete(projectId));
    return keys;
  }
}
