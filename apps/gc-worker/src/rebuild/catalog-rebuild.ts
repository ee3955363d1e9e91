import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { ManifestHeader, objectNames, ProjectKeyService, RegionStores, SwiftBlockStore } from '@island/blockstore';
import {
  CatalogRebuildRepository,
  commitCopyVersions,
  commitSnapshotVersions,
  ListedVolume,
  parseRecycleMarker,
  RebuildScratch,
  RECYCLE_MARKER_PREFIX,
} from '@island/catalog';
import { IslandConfig } from '@island/config';
import { InjectConfig } from '@island/platform';

const MANIFEST_NAME = /^manifests\/([0-9a-f-]{36})\/(\d{10})-([0-9a-f-]{36})$/;
/** Swift's listings go into the rebuild's scratch tables this many names at a time. */
const LISTING_BATCH = 1000;

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
 *
 * Memory does not grow with the region or its volumes: Swift's listings (each read once) and each manifest's block map go
 * into temporary tables on the rebuild's own connection (RebuildScratch), the changes, missing blocks and block rows are
 * computed there, and volumes are taken from there one at a time.
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
    const runner = this.dataSource.createQueryRunner();
    await runner.connect();
    const scratch = new RebuildScratch(runner.manager);
    try {
      await scratch.create();
      // a region's listing takes a while to load: the operation shows it is alive, with nothing rebuilt yet
      await this.loadListings(store, scratch, () => progress(0, 0));
      const total = await scratch.listedVolumeCount();
      let done = 0;
      for (let volume = await scratch.nextListedVolume(null); volume; volume = await scratch.nextListedVolume(volume.volumeId)) {
        await runner.startTransaction();
        try {
          await this.rebuildVolume(runner.manager, scratch, store, region, volume, report, options.acceptPlain);
          await runner.commitTransaction();
        } catch (error) {
          if (runner.isTransactionActive) await runner.rollbackTransaction();
          throw error;
        }
        done++;
        progress(done, Math.max(done, total));
      }
    } finally {
      await scratch.drop().catch(() => undefined); // the connection may be gone: its temporary tables went with it
      await runner.release();
    }
    return report;
  }

  /** Swift's listings of manifests, recycle-bin markers and block objects, into the scratch tables. */
  private async loadListings(store: SwiftBlockStore, scratch: RebuildScratch, alive: () => void): Promise<void> {
    const load = async <T>(prefix: string, parse: (name: string, bytes: number) => T | undefined, add: (batch: T[]) => Promise<void>) => {
      let batch: T[] = [];
      for await (const o of store.swift.iterateObjects(store.container, { prefix })) {
        const item = parse(o.name, o.bytes);
        if (item) batch.push(item);
        if (batch.length === LISTING_BATCH) {
          await add(batch);
          batch = [];
          alive();
        }
      }
      await add(batch);
    };
    await load(
      objectNames.manifestPrefix(),
      (name) => {
        const match = MANIFEST_NAME.exec(name);
        return match ? { volumeId: match[1], seq: Number(match[2]), name } : undefined;
      },
      (batch) => scratch.addListedManifests(batch),
    );
    await load(
      RECYCLE_MARKER_PREFIX,
      (name) => {
        const marker = parseRecycleMarker(name);
        return marker && { ...marker, name };
      },
      (batch) => scratch.addRecycleMarkers(batch),
    );
    await load(
      objectNames.blockPrefix,
      (name, bytes) => {
        const hash = objectNames.blockHash(name);
        return hash && { hash, storedSize: bytes };
      },
      (batch) => scratch.addListedBlocks(batch),
    );
    await scratch.listingLoaded();
  }

  private async rebuildVolume(
    m: EntityManager,
    scratch: RebuildScratch,
    store: SwiftBlockStore,
    region: string,
    { volumeId, manifests }: ListedVolume,
    report: RebuildReport,
    acceptPlain: boolean,
  ): Promise<void> {
    const catalog = new CatalogRebuildRepository(m);
    if (await catalog.volumeExists(volumeId)) {
      report.volumesSkipped++;
      return;
    }
    await scratch.startVolume();
    let created = false;
    for (const { name } of manifests) {
      const read = await store.readManifestOfAnyProject(name, (projectId) => this.projectKeys.keysFor(projectId), acceptPlain);
      if (!read) {
        report.plainManifestsLeftOut++;
        continue;
      }
      const { reader, sealed } = read;
      const header = reader.header;
      const meta = header.metadata;
      if (meta.volumeId !== volumeId || meta.region !== region) {
        reader.close();
        throw new Error(`manifest ${name} describes volume ${meta.volumeId} in region ${meta.region}, not what its name says`);
      }
      await scratch.startMap();
      for await (const batch of reader.batches()) await scratch.addToMap(batch);
      await scratch.mapLoaded();
      if (!created) {
        await this.restoreVolume(catalog, region, header, manifests[manifests.length - 1].seq);
        created = true;
      }
      const missing = await scratch.missingBlocks();
      await this.restoreSnapshot(catalog, header, name, sealed, missing);
      // an incomplete snapshot stays in error, but names its marker so that GC removes it
      const marker = await scratch.recycleMarker(meta.snapshotId);
      if (marker) await catalog.recordRecycleMarker(meta.snapshotId, marker.name);
      if (missing > 0) {
        this.logger.warn(`snapshot ${meta.snapshotId}: ${missing} block(s) its manifest names are not in Swift; kept in error`);
        report.snapshotsIncomplete++;
        continue;
      }
      report.blocks += await scratch.restorePresentBlocks(region, meta.projectId, header);
      // a copy's versions are its own whole block map (a replica's copies arrive in any order); a snapshot's, its change
      await scratch.stageMap(meta.snapshotId, meta.copyOf ? 'whole' : 'change');
      const ledgerSnapshot = { id: meta.snapshotId, volumeId, region, seq: meta.seq };
      const result = await (meta.copyOf ? commitCopyVersions(m, ledgerSnapshot) : commitSnapshotVersions(m, ledgerSnapshot));
      report.blockVersions += result.versionsAdded;
      report.snapshotsRebuilt++;
      if (marker) {
        await catalog.putInRecycleBin(meta.snapshotId, marker.purgeAfter);
        report.snapshotsRecycled++;
      }
      scratch.keepMapAsPrevious();
    }
    if (created) report.volumesRebuilt++;
  }

  private async restoreVolume(catalog: CatalogRebuildRepository, region: string, first: ManifestHeader, lastSeq: number): Promise<void> {
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

  private async restoreSnapshot(
    catalog: CatalogRebuildRepository,
    header: ManifestHeader,
    object: string,
    sealed: boolean,
    missingBlocks: number,
  ): Promise<void> {
    const meta = header.metadata;
    await catalog.restoreSnapshot({
      id: meta.snapshotId,
      volumeId: meta.volumeId,
      projectId: meta.projectId,
      region: meta.region,
      seq: meta.seq,
      name: meta.name,
      sizeBytes: header.volumeSize,
      blockSize: header.blockSize,
      manifestObject: object,
      manifestSealed: sealed,
      createdAt: meta.createdAt,
      copyOf: meta.copyOf ?? null,
      missingBlocks,
    });
  }
}
