import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { IslandConfig, KekManagerConfig } from '@island/config';
import { InjectConfig, PROJECT_KEY_STORE, ReadinessRegistry } from '@island/platform';
import { SwiftNotFoundError } from '@island/swift';
import { BarbicanKekSource } from './crypto/barbican-kek';
import { KekSource } from './crypto/kek-source';
import { KeyUnwrapError, unwrapProjectKey, WrappedProjectKey } from './crypto/key-wrapping';
import { Keyring, ProjectKeyStore, StoredKey } from './crypto/keyring';
import { FileKekSource } from './crypto/local-kek';
import { ProjectKeys } from './crypto/project-keys';
import { SwiftBlockStore } from './block-store';
import { RegionStores } from './region-stores';

export function kekSourceFor(config: KekManagerConfig): KekSource {
  return config.manager === 'barbican' ? new BarbicanKekSource(config) : new FileKekSource(config.file);
}

/**
 * Projects' keys for this process: opened through the keyring (catalog + key manager). A project's first new data
 * takes the key a region's Swift may already hold for it (a catalog rebuilt region by region) before a new one is
 * made; and before a project's first object goes into a region's container its wrapped key goes there too, so that
 * region's Swift and the KEK alone can open everything it holds (a catalog rebuild).
 */
@Injectable()
export class ProjectKeyService implements OnModuleInit {
  private readonly logger = new Logger('ProjectKeys');
  readonly keyring: Keyring;
  /** Region and project of wrapped keys this process has checked or put into Swift. */
  private readonly mirrored = new Set<string>();

  constructor(
    @InjectConfig() private readonly config: IslandConfig,
    @Inject(PROJECT_KEY_STORE) private readonly store: ProjectKeyStore,
    private readonly stores: RegionStores,
    private readonly readiness: ReadinessRegistry,
  ) {
    this.keyring = new Keyring(kekSourceFor(config.keys), store);
  }

  /** Not ready while the key manager gives no KEK (a missing key file, Barbican out of reach), saying why. */
  onModuleInit(): void {
    this.readiness.register('kek', async () => {
      await this.keyring.keks.current();
    });
  }

  /** The keys to read a project's objects with; undefined when it has none (none of its objects is sealed). */
  keysFor(projectId: string): Promise<ProjectKeys | undefined> {
    return this.keyring.keysFor(projectId);
  }

  /** The keys to write a project's objects into `region` with; its wrapped key is in that region's container first. */
  async keysForWriting(projectId: string, region: string): Promise<ProjectKeys> {
    let keys = await this.keyring.keysFor(projectId);
    if (!keys) {
      const inSwift = await this.findInSwift(projectId);
      if (inSwift) await this.adopt(inSwift);
      keys = await this.keyring.keysForNewData(projectId);
    }
    const mark = `${region}\0${projectId}`;
    if (!this.mirrored.has(mark)) {
      await this.mirror(projectId, await this.stores.store(region));
      this.mirrored.add(mark);
    }
    return keys;
  }

  /**
   * Takes a wrapped key found in Swift into the catalog (a rebuild, or a project's first data in a region rebuilt
   * without it): it must open with a KEK the manager holds; it is kept re-wrapped by the current KEK. A project with a
   * key already keeps it, unless the two differ: then nothing is changed and the error says so. Returns whether
   * this one was taken.
   */
  async adopt(wrapped: WrappedProjectKey): Promise<boolean> {
    const { projectId } = wrapped;
    const master = await this.keyring.unwrap(projectId, { kekId: wrapped.kekId, wrapped: { ...wrapped }, shreddedAt: null });
    const before = await this.store.find(projectId);
    const kept = before ?? (await this.keyring.keep(projectId, master));
    if (!kept.wrapped) return false; // shredded in the catalog: a copy in Swift does not bring it back
    if (!(await this.keyring.unwrap(projectId, kept)).equals(master)) {
      throw new KeyUnwrapError(`project ${projectId} has another key in the catalog than the one Swift holds: nothing was changed; an operator must decide`);
    }
    return before === null;
  }

  /** The first wrapped key of the project any region's Swift holds. */
  private async findInSwift(projectId: string): Promise<WrappedProjectKey | undefined> {
    for (const region of this.config.regions) {
      try {
        return await (await this.stores.store(region.name)).getProjectKey(projectId);
      } catch (error) {
        if (!(error instanceof SwiftNotFoundError)) throw error;
      }
    }
    return undefined;
  }

  /**
   * Puts the catalog's wrapping of a project key into a region's container. A copy already there is replaced only
   * when it holds the same key (a rotation re-wrapped it) or one no KEK opens any more; a different key there is an
   * error, never overwritten. After writing, the catalog is read again: a rotation that re-wrapped the key meanwhile
   * is written too.
   */
  private async mirror(projectId: string, store: SwiftBlockStore): Promise<void> {
    for (let pass = 0; pass < 2; pass++) {
      const stored = await this.store.find(projectId);
      if (!stored?.wrapped) return;
      const ours = stored.wrapped as unknown as WrappedProjectKey;
      if ((await store.putProjectKey(ours, { ifAbsent: true })) === 'exists') {
        const theirs = await store.getProjectKey(projectId);
        if (sameWrapping(theirs, ours)) return;
        await this.assertSameKey(projectId, stored, theirs);
        await store.putProjectKey(ours);
        this.logger.log(`the copy of project ${projectId}'s key in ${store.container} was re-wrapped (KEK ${theirs.kekId} → ${ours.kekId})`);
      }
      if ((await this.store.find(projectId))?.kekId === ours.kekId) return;
    }
  }

  private async assertSameKey(projectId: string, stored: StoredKey, theirs: WrappedProjectKey): Promise<void> {
    const kek = await this.keyring.keks.find(theirs.kekId);
    if (!kek) return; // sealed by a retired KEK: nothing can open it any more
    if (!unwrapProjectKey(kek.key, projectId, theirs).equals(await this.keyring.unwrap(projectId, stored))) {
      throw new KeyUnwrapError(`Swift holds another key for project ${projectId} than the catalog: not overwritten; an operator must decide`);
    }
  }
}

export function sameWrapping(a: WrappedProjectKey, b: WrappedProjectKey): boolean {
  return a.projectId === b.projectId && a.kekId === b.kekId && a.iv === b.iv && a.tag === b.tag && a.sealed === b.sealed;
}
