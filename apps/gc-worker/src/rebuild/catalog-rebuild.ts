import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { Manifest, objectNames, ProjectKeyService, RegionStores, SwiftBlockStore } from '@island/blockstore';
import {
  CatalogRebuildRepository,
  commitCopyVersions,
  commitSnapshotVersions,
  parseRecycleMarker,
  RECYCLE_MARKER_PREFIX,
  RecycleMarker,
  stageBlockMap,
} from '@island/catalog';
import { IslandConfig } from '@island/config';
import { InjectConfig } from '@island/platform';

const MANIFEST_NAME = /^manifests\/([0-9a-f-]{36})\/(\d{10})-([0-9a-f-]{36})$/;

export interface RebuildReport {
  region: string;
  /** Projects' wrapped keys found in Swift and taken into the catalog. */
  projectKeys: number;
  volumesRebuilt: number;
  /** Volumes the catalog already holds: left as they are (a rebuild can be resumed). */
  volumesSkipped: number;
  snapshotsRebuilt: number;
  /** Of those, snapshots a marker in Swift says were in the recycle bin: back in it, until the same time. */
  snapshotsRecycled: number;
  /** Snapshots whose manifest names blocks Swift does not have: recorded in error, outside the ledger. */
  snapshotsIncomplete: number;
  /** Plain manifests (from before encryption) left out: rebuilt only with `acceptPlain`. */
  plainManifestsLeftOut: number;
  blocks: number;
  blockVersions: number;
}

/**
 * Rebuilds a region's catalog from Swift alone (and the KEK): projects' wrapped keys come back first, then every
 * manifest (opened with its project's key) becomes a snapshot of its volume, each
 * volume's snapshots are committed in sequence order through the same ledger code as live commits (the
 * difference between consecutive manifests is the snapshot's change), and reference counts follow.
 * Snapshots that were in the recycle bin (a marker GC keeps in Swift) go back into it, with the same purge time.
 * Rebuilt volumes are not placed on any host: attaching one restores its newest snapshot.
 */
@Injectable()
export class CatalogRebuilder {
  private readonly logger = new Logger(CatalogRebuilder.name);

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @InjectConfig() private readonly config: IslandConfig,
    private readonly stores: RegionStores,
    private readonly projectKeys: ProjectKeyService,
  ) {}

  async rebuild(region: string, options: { acceptPlain: boolean }, progress: (done: number, total: number) => void = () => undefined): Promise<RebuildReport> {
    const regionConfig = this.config.regions.find((r) => r.name === region);
    if (!regionConfig) throw new Error(`region ${region} is not configured`);
    const store = await this.stores.store(region);
    await new CatalogRebuildRepository(this.dataSource.manager).ensureRegion(region, regionConfig.container);

    // projects' keys first: every sealed manifest and block of the region opens with one of them (and the KEK)
    let projectKeys = 0;
    for (const wrapped of await store.listProjectKeys()) if (await this.projectKeys.adopt(wrapped)) projectKeys++;
    const volumes = new Map<string, { seq: number; name: string }[]>();
    for await (const o of store.swift.iterateObjects(store.container, { prefix: objectNames.manifestPrefix() })) {
      const match = MANIFEST_NAME.exec(o.name);
      if (!match) continue;
      const list = volumes.get(match[1]) ?? [];
      list.push({ seq: Number(match[2]), name: o.name });
      volumes.set(match[1], list);
    }
    const recycled = new Map<string, RecycleMarker & { name: string }>();
    for await (const o of store.swift.iterateObjects(store.container, { prefix: RECYCLE_MARKER_PREFIX })) {
      const marker = parseRecycleMarker(o.name);
      const other = marker && recycled.get(marker.snapshotId); // two only when GC stopped between writing one and removing the other
      if (marker && (!other || marker.purgeAfter > other.purgeAfter)) recycled.set(marker.snapshotId, { ...marker, name: o.name });
    }
    const stored = new Map<string, number>();
    for await (const o of store.swift.iterateObjects(store.container, { prefix: objectNames.blockPrefix })) {
      const hash = objectNames.blockHash(o.name);
      if (hash) stored.set(hash.toString('hex'), o.bytes);
    }

    const report: RebuildReport = {
      region,
      projectKeys,
      volumesRebuilt: 0,
      volumesSkipped: 0,
      snapshotsRebuilt: 0,
      snapshotsRecycled: 0,
      snapshotsIncomplete: 0,
      plainManifestsLeftOut: 0,
      blocks: 0,
      blockVersions: 0,
    };
    let done = 0;
    for (const [volumeId, manifests] of volumes) {
      manifests.sort((a, b) => a.seq - b.seq);
      await this.dataSource.transaction((m) => this.rebuildVolume(m, store, region, volumeId, manifests, { stored, recycled }, report, options.acceptPlain));
      progress(++done, volumes.size);
    }
    return report;
  }

  private async rebuildVolume(
    m: EntityManager,
    store: SwiftBlockStore,
    region: string,
    volumeId: string,
    manifests: { seq: number; name: string }[],
    found: { stored: Map<string, number>; recycled: Map<string, RecycleMarker & { name: string }> },
    report: RebuildReport,
    acceptPlain: boolean,
  ): Promise<void> {
    const catalog = new CatalogRebuildRepository(m);
    if (await catalog.volumeExists(volumeId)) {
      report.volumesSkipped++;
      return;
    }
    const { stored, recycled } = found;
    let previous = new Map<number, string>();
    let created = false;
    for (const { name } of manifests) {
      const read = await store.getManifestOfAnyProject(name, (projectId) => this.projectKeys.keysFor(projectId), acceptPlain);
      if (!read) {
        report.plainManifestsLeftOut++;
        continue;
      }
      const { manifest, sealed } = read;
      const meta = manifest.metadata;
      if (meta.volumeId !== volumeId || meta.region !== region) {
        throw new Error(`manifest ${name} describes volume ${meta.volumeId} in region ${meta.region}, not what its name says`);
      }
      if (!created) {
        await this.restoreVolume(catalog, region, manifest, manifests[manifests.length - 1].seq);
        created = true;
      }
      const current = new Map<number, string>();
      const missing: string[] = [];
      const sizes = new Map<string, number>();
      for (const entry of manifest.entries()) {
        const hash = entry.hash.toString('hex');
        current.set(entry.index, hash);
        if (!stored.has(hash)) missing.push(hash);
        sizes.set(hash, manifest.blockLength(entry.index));
      }
      await this.restoreSnapshot(catalog, manifest, name, sealed, missing.length);
      // an incomplete snapshot stays in error, but names its marker so that GC removes it
      const marker = recycled.get(meta.snapshotId);
      if (marker) await catalog.recordRecycleMarker(meta.snapshotId, marker.name);
      if (missing.length > 0) {
        this.logger.warn(`snapshot ${meta.snapshotId}: ${missing.length} block(s) its manifest names are not in Swift; kept in error`);
        report.snapshotsIncomplete++;
        continue;
      }
      report.blocks += await catalog.restorePresentBlocks(
        region,
        meta.projectId,
        [...sizes].map(([hash, size]) => ({ hash, size, storedSize: stored.get(hash)! })),
      );
      // a copy's versions are its own whole block map (a replica's copies arrive in any order); a snapshot's, its change
      const ledgerSnapshot = { id: meta.snapshotId, volumeId, region, seq: meta.seq };
      await this.stageChanges(m, meta.snapshotId, meta.copyOf ? new Map() : previous, current);
      const result = await (meta.copyOf ? commitCopyVersions(m, ledgerSnapshot) : commitSnapshotVersions(m, ledgerSnapshot));
      report.blockVersions += result.versionsAdded;
      report.snapshotsRebuilt++;
      if (marker) {
        await catalog.putInRecycleBin(meta.snapshotId, marker.purgeAfter);
        report.snapshotsRecycled++;
      }
      previous = current;
    }
    if (created) report.volumesRebuilt++;
  }

  private async restoreVolume(catalog: CatalogRebuildRepository, region: string, first: Manifest, lastSeq: number): Promise<void> {
    const meta = first.metadata;
    await catalog.restoreVolume({
      id: meta.volumeId,
      projectId: meta.projectId,
      name: meta.volumeName,
      region,
      sizeBytes: first.volumeSize,
      blockSize: first.blockSize,
      replicaOf: meta.replicaOf ?? null,
      nextSeq: lastSeq + 1,
      createdAt: meta.createdAt,
    });
  }

  private async restoreSnapshot(catalog: CatalogRebuildRepository, manifest: Manifest, object: string, sealed: boolean, missingBlocks: number): Promise<void> {
    const meta = manifest.metadata;
    await catalog.restoreSnapshot({
      id: meta.snapshotId,
      volumeId: meta.volumeId,
      projectId: meta.projectId,
      region: meta.region,
      seq: meta.seq,
      name: meta.name,
      sizeBytes: manifest.volumeSize,
      blockSize: manifest.blockSize,
      manifestObject: object,
      manifestSealed: sealed,
      createdAt: meta.createdAt,
      copyOf: meta.copyOf ?? null,
      missingBlocks,
    });
  }

  /** The snapshot's change against the previous one: blocks that differ, and blocks that became holes. */
  private async stageChanges(m: EntityManager, snapshotId: string, previous: Map<number, string>, current: Map<number, string>): Promise<void> {
    const indexes: number[] = [];
    const hashes: (string | null)[] = [];
    for (const [index, hash] of current) {
      if (previous.get(index) !== hash) {
        indexes.push(index);
        hashes.push(hash);
      }
    }
    for (const index of previous.keys()) {
      if (!current.has(index)) {
        indexes.push(index);
        hashes.push(null);
      }
    }
    await stageBlockMap(
      m,
      snapshotId,
      indexes,
      hashes.map((h) => (h === null ? null : Buffer.from(h, 'hex'))),
    );
  }
}
