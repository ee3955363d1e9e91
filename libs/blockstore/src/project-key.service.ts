import { Inject, Injectable } from '@nestjs/common';
import { IslandConfig, KekManagerConfig } from '@island/config';
import { InjectConfig, PROJECT_KEY_STORE } from '@island/platform';
import { BarbicanKekSource } from './crypto/barbican-kek';
import { KekSource } from './crypto/kek-source';
import { KeyUnwrapError, unwrapProjectKey, WrappedProjectKey } from './crypto/key-wrapping';
import { Keyring, ProjectKeyStore } from './crypto/keyring';
import { FileKekSource } from './crypto/local-kek';
import { ProjectKeys } from './crypto/project-keys';
import { RegionStores } from './region-stores';

export function kekSourceFor(config: KekManagerConfig): KekSource {
  return config.manager === 'barbican' ? new BarbicanKekSource(config) : new FileKekSource(config.file);
}

/**
 * Projects' keys for this process: opened through the keyring (catalog + key manager), and before a project's first
 * object goes into a region's container its wrapped key goes there too, so that region's Swift and the KEK alone
 * can open everything it holds (a catalog rebuild).
 */
@Injectable()
export class ProjectKeyService {
  readonly keyring: Keyring;
  /** Region and project of wrapped keys this process has put into Swift. */
  private readonly mirrored = new Set<string>();

  constructor(
    @InjectConfig() config: IslandConfig,
    @Inject(PROJECT_KEY_STORE) private readonly store: ProjectKeyStore,
    private readonly stores: RegionStores,
  ) {
    this.keyring = new Keyring(kekSourceFor(config.keys), store);
  }

  /**
   * Takes a wrapped key found in Swift into the catalog (a rebuild), once it is shown to open with a KEK the key
   * manager holds; a project that has a key already keeps it. Returns whether this one was taken.
   */
  async adopt(wrapped: WrappedProjectKey): Promise<boolean> {
    const kek = await this.keyring.keks.find(wrapped.kekId);
    if (!kek)
      throw new KeyUnwrapError(
        `the key of project ${wrapped.projectId} in Swift is sealed by KEK ${wrapped.kekId}, which ${this.keyring.keks.description} does not hold`,
      );
    unwrapProjectKey(kek.key, wrapped.projectId, wrapped);
    const kept = await this.store.keep(wrapped.projectId, wrapped.kekId, { ...wrapped });
    return kept.kekId === wrapped.kekId && JSON.stringify(kept.wrapped) === JSON.stringify(wrapped);
  }

  /** The keys to read a project's objects with. */
  keysFor(projectId: string): Promise<ProjectKeys> {
    return this.keyring.keysFor(projectId);
  }

  /** The keys to write a project's objects into `region` with; its wrapped key is in that region's container first. */
  async keysForWriting(projectId: string, region: string): Promise<ProjectKeys> {
    const keys = await this.keyring.keysFor(projectId);
    const mark = `${region}\0${projectId}`;
    if (!this.mirrored.has(mark)) {
      // the catalog's wrapping as it is now, not the one cached with the keys: a rotation may have re-wrapped it since
      const stored = await this.store.find(projectId);
      if (stored?.wrapped) await (await this.stores.store(region)).putProjectKey(stored.wrapped as unknown as WrappedProjectKey);
      this.mirrored.add(mark);
    }
    return keys;
  }
}
