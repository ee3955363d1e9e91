import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { objectNames, ProjectKeyService, RegionStores, rewrapProjectKey, sameWrapping, WrappedProjectKey } from '@island/blockstore';
import { ProjectKeyRepository, whileRotatingAlone } from '@island/catalog';
import { IslandConfig } from '@island/config';
import { InjectConfig } from '@island/platform';

/** Passes over the keys still sealed by earlier KEKs (the first finds them all; a second only confirms it). */
const REWRAP_PASSES = 3;

export interface RotationReport {
  kekId: string;
  rewrapped: number;
  /** Keys sealed by a KEK the manager no longer holds: they could not be re-wrapped (their projects are unreadable). */
  unopenable: string[];
  swiftCopiesWritten: number;
  swiftCopiesDeleted: number;
  retiredKeks: string[];
}

export interface ShredReport {
  projectId: string;
  shreddedAt: string;
  swiftCopiesDeleted: number;
}

/**
 * KEK rotation and crypto-shredding. Both change only keys: blocks and manifests stay as they are. The catalog holds
 * the truth; each region's Swift keeps a copy of every project key it holds data of (for a rebuild), brought in line
 * after the catalog changed.
 */
@Injectable()
export class KeyManagement {
  private readonly logger = new Logger('Keys');

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @InjectConfig() private readonly config: IslandConfig,
    private readonly projectKeys: ProjectKeyService,
    private readonly stores: RegionStores,
  ) {}

  /** One rotation at a time, across every GC worker: a second one would retire the first one's new KEK. */
  rotate(progress: (done: number, total: number) => void): Promise<RotationReport> {
    return whileRotatingAlone(this.dataSource, () => this.rotateAlone(progress));
  }

  private async rotateAlone(progress: (done: number, total: number) => void): Promise<RotationReport> {
    const keks = this.projectKeys.keyring.keks;
    const next = await keks.rotate();
    const repo = this.repository();
    // from here on no key can be kept under an earlier KEK, and every one being kept under one has been (kek_state)
    await repo.setCurrentKek(next.id);
    this.logger.log(`KEK ${next.id} is now current in ${keks.description}; re-wrapping project keys`);
    const report: RotationReport = { kekId: next.id, rewrapped: 0, unopenable: [], swiftCopiesWritten: 0, swiftCopiesDeleted: 0, retiredKeks: [] };
    for (let pass = 1; ; pass++) {
      const todo = (await repo.sealedByOtherThan(next.id)).filter((k) => !report.unopenable.includes(k.projectId));
      if (todo.length === 0) break;
      if (pass > REWRAP_PASSES)
        throw new Error(`${todo.length} project key(s) are still sealed by earlier KEKs after ${REWRAP_PASSES} passes; earlier KEKs kept`);
      for (const [i, key] of todo.entries()) {
        const old = await keks.find(key.kekId);
        if (!old) {
          report.unopenable.push(key.projectId);
          this.logger.error(`the key of project ${key.projectId} is sealed by KEK ${key.kekId}, which ${keks.description} no longer holds: not re-wrapped`);
          continue;
        }
        const wrapped = rewrapProjectKey(old.key, next.key, key.projectId, key.wrapped as unknown as WrappedProjectKey);
        if (await repo.rewrap(key.projectId, key.kekId, next.id, { ...wrapped })) report.rewrapped++;
        progress(i + 1, todo.length + 1);
      }
    }
    const synced = await this.syncSwiftCopies();
    report.swiftCopiesWritten = synced.written;
    report.swiftCopiesDeleted = synced.deleted;
    // only now: every copy of every key, in the catalog and in Swift, is sealed by the new KEK
    report.retiredKeks = await keks.retireAllBut(next.id);
    this.projectKeys.keyring.forget();
    this.logger.log(`rotation to KEK ${next.id}: ${report.rewrapped} re-wrapped, KEK(s) ${report.retiredKeks.join(', ') || 'none'} retired`);
    return report;
  }

  async shred(projectId: string): Promise<ShredReport> {
    const repo = this.repository();
    await repo.shred(projectId);
    const key = await repo.find(projectId);
    if (!key?.shreddedAt) throw new Error(`project ${projectId} has no key to shred`);
    this.projectKeys.keyring.forget(projectId);
    const { deleted } = await this.syncSwiftCopies(projectId);
    this.logger.warn(`the key of project ${projectId} was shredded: its snapshots can no longer be read`);
    return { projectId, shreddedAt: key.shreddedAt.toISOString(), swiftCopiesDeleted: deleted };
  }

  /**
   * Brings each region's copies of project keys in line with the catalog: a re-wrapped key replaces its copy, a
   * shredded key's copy is deleted. A copy of a key the catalog does not know (a catalog restored from an older
   * backup, a region not rebuilt yet) is left alone: it may be the only one. `only`: one project's copies.
   */
  private async syncSwiftCopies(only?: string): Promise<{ written: number; deleted: number }> {
    const repo = this.repository();
    let written = 0;
    let deleted = 0;
    for (const region of this.config.regions) {
      const store = await this.stores.store(region.name);
      const prefix = only === undefined ? objectNames.projectKeyPrefix : objectNames.projectKey(only);
      for await (const o of store.swift.iterateObjects(store.container, { prefix })) {
        const projectId = o.name.slice(objectNames.projectKeyPrefix.length);
        if (only !== undefined && projectId !== only) continue;
        const key = await repo.find(projectId);
        if (!key) continue;
        if (!key.wrapped) {
          await store.swift.deleteObject(store.container, o.name, { ignoreMissing: true });
          deleted++;
        } else if (!sameWrapping(await store.getProjectKey(projectId), key.wrapped as unknown as WrappedProjectKey)) {
          await store.putProjectKey(key.wrapped as unknown as WrappedProjectKey);
          written++;
        }
      }
    }
    return { written, deleted };
  }

  private repository(): ProjectKeyRepository {
    return new ProjectKeyRepository(this.dataSource.manager);
  }
}
