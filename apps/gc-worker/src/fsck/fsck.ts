import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import {
  KeyUnwrapError,
  ManifestEntry,
  ManifestReader,
  objectNames,
  ProjectKeys,
  ProjectKeyService,
  ProjectKeyShreddedError,
  RegionStores,
  SwiftBlockStore,
} from '@island/blockstore';
import {
  adoptOrphanBlocks,
  entriesAt,
  ManifestedSnapshot,
  manifestedSnapshots,
  PresentBlock,
  presentBlockCount,
  referenceDiscrepancies,
  refreshSnapshotDamage,
  regionBlocksBetween,
  repairReferenceCounts,
  snapshotsKeepingManifests,
  unrepairedDamagedBlocks,
} from '@island/catalog';
import { IslandConfig } from '@island/config';
import { forEachBounded, injectedDelay, InjectConfig } from '@island/platform';
import { SwiftNotFoundError } from '@island/swift';
import { GarbageCollector } from '../gc/garbage-collector';
import { BlockCheck, BlockScrubber } from '../scrub/block-scrubber';
import { ByteRateLimiter } from '../scrub/byte-rate-limiter';
import { countDifferingBlocks } from './block-map-differences';
import { BlocksInHashOrder, MergedBlock } from './blocks-in-hash-order';
import { FsckReport } from './fsck-report';

const DEEP_READ_CONCURRENCY = 8;
/** Blocks checked together (their deep reads in parallel, their orphans deleted in one lease). */
const BLOCK_BATCH = 1000;
/** Problems listed in a report; past this they are only counted. */
const LISTED_PROBLEMS = 1000;
const REPAIR_ATTEMPTS = 5;
const MIB = 1024 * 1024;

/**
 * Checks one region: every live snapshot's manifest against the catalog's block versions, every block's
 * reference and claim counts recomputed from scratch, every block the catalog says is present against
 * Swift (size; with `deep`, content and checksum, and a sealed block's authenticity under its project's key), and
 * Swift's objects against the catalog (orphans). Deep reads go at `mibPerSecond` (default ISLAND_SCRUB_MIB_PER_S).
 * With `repair`: wrong counts are recomputed, orphans deleted through GC's fencing protocol, blocks missing or
 * corrupt repaired from another region's copy or else marked damaged with the snapshots that need them (BlockScrubber),
 * and blocks marked damaged earlier tried again (unmarked when whole).
 */
@Injectable()
export class FsckChecker {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly stores: RegionStores,
    private readonly projectKeys: ProjectKeyService,
    private readonly collector: GarbageCollector,
    private readonly scrubber: BlockScrubber,
    @InjectConfig() private readonly config: IslandConfig,
  ) {}

  async check(
    region: string,
    options: { deep: boolean; repair: boolean; mibPerSecond?: number },
    progress: (done: number, total: number) => void = () => undefined,
  ): Promise<Record<string, unknown>> {
    const store = await this.stores.store(region);
    const report = new FsckReport(region, options, LISTED_PROBLEMS);
    const limiter = new ByteRateLimiter(options.mibPerSecond !== undefined ? options.mibPerSecond * MIB : this.config.scrub.bytesPerSecond);
    report.checked.bytesPerSecondLimit = limiter.bytesPerSecond;
    // Swift first: an object listed now had its catalog row before it was written, unless GC since deleted it (block
    // objects are listed a chunk at a time, each before the catalog's rows in its range: BlocksInHashOrder)
    const blocks = new BlocksInHashOrder(store.swift.iterateObjects(store.container, { prefix: objectNames.blockPrefix }), (after, upTo, limit) =>
      regionBlocksBetween(this.dataSource.manager, region, after, upTo, limit),
    );
    await blocks.start();
    const manifests = await this.listManifests(store);
    await injectedDelay('fsck.after-listing');
    const snapshots = await manifestedSnapshots(this.dataSource.manager, region);
    let done = 0;
    const total = snapshots.length + (await presentBlockCount(this.dataSource.manager, region));
    const tick = () => progress(++done, Math.max(done, total));
    for (const snapshot of snapshots) {
      await this.checkManifest(store, snapshot, manifests, report);
      tick();
    }

    // blocks marked damaged earlier, first: whole again (written again, put back) or repairable now
    if (options.repair) {
      for (const block of await unrepairedDamagedBlocks(this.dataSource.manager, region)) {
        const keys = block.projectId === null ? undefined : await this.keysOf(block.projectId, report);
        if (keys === 'unreadable') continue;
        const found = await this.scrubber.check(region, store, block, keys, limiter);
        report.checked.bytes += block.storedSize;
        if (found.problem === undefined) {
          if (await this.scrubber.unmark(region, store, block)) report.add({ kind: 'damage-cleared', hash: hex(block.hash) });
        } else {
          await this.mend(region, store, block, keys, found, report, false);
        }
      }
    }
    const damaged = new Map((await unrepairedDamagedBlocks(this.dataSource.manager, region)).map((b) => [hex(b.hash), b.damagedReason]));

    const discrepancies = await referenceDiscrepancies(this.dataSource.manager, region);
    for (const d of discrepancies) {
      const reason = damaged.get(hex(d.hash));
      report.add(
        d.state === null
          ? { kind: 'block-not-in-catalog', hash: hex(d.hash), expectedRefcount: d.expectedRefcount }
          : reason
            ? { kind: 'block-damaged', hash: hex(d.hash), reason }
            : d.expectedRefcount > 0 && d.state !== 'present'
              ? { kind: 'referenced-block-not-present', hash: hex(d.hash), state: d.state }
              : {
                  kind: 'wrong-counts',
                  hash: hex(d.hash),
                  refcount: d.refcount,
                  expectedRefcount: d.expectedRefcount,
                  pending: d.pending,
                  expectedPending: d.expectedPending,
                },
      );
    }
    if (options.repair)
      report.repaired.counts = await this.repairCounts(
        region,
        discrepancies.filter((d) => d.state !== null).map((d) => d.hash),
      );

    let batch: MergedBlock[] = [];
    for await (const block of blocks.blocks()) {
      batch.push(block);
      if (batch.length < BLOCK_BATCH) continue;
      await this.checkBlocks(region, store, batch, options, report, limiter, tick);
      batch = [];
    }
    await this.checkBlocks(region, store, batch, options, report, limiter, tick);
    if (options.repair) report.damage = await refreshSnapshotDamage(this.dataSource.manager, region);

    const orphanManifests = await stillStored(await this.orphanManifests(region, manifests), (name) => store.swift.objectExists(store.container, name));
    for (const name of orphanManifests) report.add({ kind: 'orphan-manifest', object: name });
    if (options.repair) {
      if (orphanManifests.length > 0) await store.swift.bulkDelete(orphanManifests.map((name) => ({ container: store.container, name })));
      report.repaired.orphanManifests = orphanManifests.length;
    }
    return report.finish();
  }

  /** Repairs a lost block from another region, or marks it damaged; reports which. `add`: report a block still damaged. */
  private async mend(
    region: string,
    store: SwiftBlockStore,
    block: PresentBlock,
    keys: ProjectKeys | undefined,
    found: Exclude<BlockCheck, { problem: undefined }>,
    report: FsckReport,
    add = true,
  ): Promise<void> {
    const mended = await this.scrubber.mend(region, store, block, keys, found);
    if (mended.repairedFrom !== undefined) {
      report.add({ kind: 'block-repaired', hash: hex(block.hash), problem: found.problem, from: mended.repairedFrom });
      report.repaired.blocks++;
    } else if (mended.marked && add) {
      report.add(
        found.problem === 'missing'
          ? { kind: 'block-missing', hash: hex(block.hash), damaged: mended.reason }
          : { kind: 'block-corrupt', hash: hex(block.hash), error: found.detail, damaged: mended.reason },
      );
    }
  }

  private async listManifests(store: SwiftBlockStore): Promise<Set<string>> {
    const manifests = new Set<string>();
    for await (const o of store.swift.iterateObjects(store.container, { prefix: objectNames.manifestPrefix() })) manifests.add(o.name);
    return manifests;
  }

  /**
   * A batch of the region's blocks in hash order (BlocksInHashOrder): each present block against its listed object
   * (missing, size; with `deep`, read), and objects the catalog has no row for (orphans, deleted with `repair`).
   */
  private async checkBlocks(
    region: string,
    store: SwiftBlockStore,
    batch: MergedBlock[],
    options: { deep: boolean; repair: boolean },
    report: FsckReport,
    limiter: ByteRateLimiter,
    tick: () => void,
  ): Promise<void> {
    const toRead: PresentBlock[] = [];
    const unknown: MergedBlock[] = [];
    for (const merged of batch) {
      const { row: block, listedBytes } = merged;
      if (!block) {
        unknown.push(merged);
        continue;
      }
      if (block.state !== 'present') continue;
      report.checked.blocks++;
      if (listedBytes === undefined) {
        // listed before the row was read: a block uploaded in between is simply not in the listing yet
        if (!(await store.blockObjectSize(block.hash))) {
          const keys = options.repair && block.projectId !== null ? await this.keysOf(block.projectId, report) : undefined;
          if (options.repair && keys !== 'unreadable')
            await this.mend(region, store, block, keys, { problem: 'missing', detail: 'the object is not in Swift' }, report);
          else report.add({ kind: 'block-missing', hash: hex(block.hash) });
        }
      } else if (block.storedSize > 0 && listedBytes !== block.storedSize) {
        report.add({ kind: 'block-size', hash: hex(block.hash), catalogBytes: block.storedSize, swiftBytes: listedBytes });
      } else if (options.deep) {
        toRead.push(block);
        continue;
      }
      tick();
    }
    const reading = performance.now();
    await forEachBounded(toRead, DEEP_READ_CONCURRENCY, async (block) => {
      // a sealed block is authenticated under its project's key and its content checked against its keyed name
      const keys = block.projectId === null ? undefined : await this.keysOf(block.projectId, report);
      if (keys === 'unreadable') return;
      const found = await this.scrubber.check(region, store, block, keys, limiter);
      report.checked.bytes += block.storedSize;
      if (found.problem === 'corrupt') {
        if (options.repair) await this.mend(region, store, block, keys, found, report);
        else report.add({ kind: 'block-corrupt', hash: hex(block.hash), error: found.detail });
      } else if (found.problem === undefined && block.damagedReason !== null && options.repair) {
        if (await this.scrubber.unmark(region, store, block)) report.add({ kind: 'damage-cleared', hash: hex(block.hash) });
      } // missing: deleted by GC since the listing (one missing before it was found above)
      tick();
    });
    report.checked.readSeconds += Math.round(performance.now() - reading) / 1000;

    // GC deletes an object, then forgets its row: one listed, then collected, has no row and is no longer in Swift
    const orphans = await stillStored(unknown, async (b) => (await store.blockObjectSize(b.hash)) !== undefined);
    for (const b of orphans) report.add({ kind: 'orphan-block', hash: hex(b.hash), bytes: b.listedBytes ?? 0 });
    if (options.repair && orphans.length > 0)
      report.repaired.orphanBlocks += await this.deleteOrphanBlocks(
        region,
        store,
        orphans.map((b) => b.hash),
      );
  }

  private async checkManifest(store: SwiftBlockStore, snapshot: ManifestedSnapshot, unclaimed: Set<string>, report: FsckReport): Promise<void> {
    report.checked.manifests++;
    const keys = await this.keysOf(snapshot.projectId, report);
    if (keys === 'unreadable') return;
    let manifest: ManifestReader;
    try {
      manifest = await store.readManifest(snapshot.manifestObject, keys, snapshot.manifestSealed);
    } catch (error) {
      report.add(
        error instanceof SwiftNotFoundError
          ? { kind: 'manifest-missing', snapshotId: snapshot.id, object: snapshot.manifestObject }
          : { kind: 'manifest-unreadable', snapshotId: snapshot.id, object: snapshot.manifestObject, error: (error as Error).message },
      );
      return;
    }
    unclaimed.delete(snapshot.manifestObject);
    // the manifest streams in: a read failing midway is the manifest's problem; the catalog's own errors go up
    let unreadable: Error | undefined;
    const readable = async function* (batches: AsyncIterable<ManifestEntry[]>) {
      try {
        yield* batches;
      } catch (error) {
        unreadable = error as Error;
      }
    };
    let differing: number;
    try {
      differing = await countDifferingBlocks(readable(manifest.batches()), entriesAt(this.dataSource.manager, snapshot.volumeId, snapshot.seq));
    } finally {
      manifest.close();
    }
    if (unreadable) {
      report.add({ kind: 'manifest-unreadable', snapshotId: snapshot.id, object: snapshot.manifestObject, error: unreadable.message });
      return;
    }
    if (differing > 0) report.add({ kind: 'manifest-mismatch', snapshotId: snapshot.id, object: snapshot.manifestObject, differingBlocks: differing });
  }

  /**
   * A project's keys (undefined: it has none, nothing of it is sealed), or 'unreadable': shredded on purpose (listed as
   * such, its objects not checked), or its key does not open with the KEKs the manager holds (a problem, reported
   * once; its objects are not checked either).
   */
  private async keysOf(projectId: string, report: FsckReport): Promise<ProjectKeys | undefined | 'unreadable'> {
    try {
      return await this.projectKeys.keysFor(projectId);
    } catch (error) {
      if (error instanceof ProjectKeyShreddedError) {
        report.shreddedProjects.add(projectId);
        return 'unreadable';
      }
      if (!(error instanceof KeyUnwrapError)) throw error;
      if (!report.unopenableProjects.has(projectId)) {
        report.unopenableProjects.add(projectId);
        report.add({ kind: 'project-key-unopenable', projectId, error: error.message });
      }
      return 'unreadable';
    }
  }

  /** Listed manifests no live snapshot claimed: orphans unless being sealed now or kept for GC (deleted, still named). */
  private async orphanManifests(region: string, unclaimed: Set<string>): Promise<string[]> {
    const names = [...unclaimed];
    if (names.length === 0) return [];
    const ids = names.map((n) => /-([0-9a-f-]{36})$/.exec(n)?.[1] ?? '00000000-0000-0000-0000-000000000000');
    const kept = new Set(await snapshotsKeepingManifests(this.dataSource.manager, region, ids));
    return names.filter((_, i) => !kept.has(ids[i]));
  }

  private async repairCounts(region: string, hashes: Buffer[]): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.dataSource.transaction('REPEATABLE READ', (m) => repairReferenceCounts(m, region, hashes));
      } catch (error) {
        if ((error as { code?: string }).code !== '40001' || attempt >= REPAIR_ATTEMPTS) throw error;
      }
    }
  }

  private async deleteOrphanBlocks(region: string, store: SwiftBlockStore, hashes: Buffer[]): Promise<number> {
    return this.collector.withLease(region, async (lease) => {
      let deleted = 0;
      for (let i = 0; i < hashes.length && !lease.ended; i += 1000) {
        const adopted = await this.dataSource.transaction((m) => adoptOrphanBlocks(m, region, hashes.slice(i, i + 1000), lease.token));
        const result = await this.collector.deleteMarked(
          region,
          store,
          lease,
          adopted.map((hash) => ({ hash, storedSize: 0 })),
          'adopted',
        );
        deleted += result.blocks;
      }
      return deleted;
    });
  }
}

export function hex(hash: Buffer): string {
  return hash.toString('hex');
}

/** Of objects listed earlier, those still in Swift now (`exists` asks it), in their order. */
async function stillStored<T>(listed: T[], exists: (object: T) => Promise<boolean>): Promise<T[]> {
  const stored = new Set<T>();
  await forEachBounded(listed, DEEP_READ_CONCURRENCY, async (object) => {
    if (await exists(object)) stored.add(object);
  });
  return listed.filter((object) => stored.has(object));
}
