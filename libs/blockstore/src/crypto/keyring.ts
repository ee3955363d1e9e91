import { KekSource } from './kek-source';
import { KeyUnwrapError, unwrapProjectKey, WrappedProjectKey, wrapProjectKey } from './key-wrapping';
import { ProjectKeys } from './project-keys';

/** Where projects' wrapped keys are kept (the catalog's ProjectKeyRepository has this shape). */
export interface ProjectKeyStore {
  find(projectId: string): Promise<StoredKey | null>;
  /** Keeps a new project's key unless it has one; returns the key it has (the first writer's). */
  keep(projectId: string, kekId: string, wrapped: Record<string, unknown>): Promise<StoredKey>;
}

interface StoredKey {
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

/**
 * A process's view of projects' keys: unwraps a project's master key with the KEK that sealed it (making and keeping
 * one, sealed by the current KEK, on the project's first snapshot), and keeps the derived keys for KEYRING_CACHE_MS.
 */
export class Keyring {
  private readonly cache = new Map<string, { keys: Promise<ProjectKeys>; until: number }>();

  constructor(
    readonly keks: KekSource,
    private readonly store: ProjectKeyStore,
    private readonly now: () => number = Date.now,
  ) {}

  keysFor(projectId: string): Promise<ProjectKeys> {
    const cached = this.cache.get(projectId);
    if (cached && cached.until > this.now()) return cached.keys;
    const keys = this.load(projectId);
    this.cache.set(projectId, { keys, until: this.now() + KEYRING_CACHE_MS });
    keys.catch(() => this.cache.delete(projectId));
    return keys;
  }

  /** Forgets the cached keys (after a rotation or a shredding in this process). */
  forget(projectId?: string): void {
    if (projectId === undefined) this.cache.clear();
    else this.cache.delete(projectId);
  }

  private async load(projectId: string): Promise<ProjectKeys> {
    let stored = await this.store.find(projectId);
    if (!stored) {
      const kek = await this.keks.current();
      stored = await this.store.keep(projectId, kek.id, { ...wrapProjectKey(kek.key, projectId, ProjectKeys.newMasterKey()) });
    }
    if (!stored.wrapped) throw new ProjectKeyShreddedError(projectId, stored.shreddedAt);
    const kek = await this.keks.find(stored.kekId);
    if (!kek) {
      throw new KeyUnwrapError(
        `the key of project ${projectId} is sealed by KEK ${stored.kekId}, which ${this.keks.description} does not hold (retired too early, or the wrong key manager)`,
      );
    }
    return new ProjectKeys(projectId, unwrapProjectKey(kek.key, projectId, stored.wrapped as unknown as WrappedProjectKey));
  }
}
