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
  knownBlockHashes,
  ManifestedSnapshot,
  manifestedSnapshots,
  PresentBlock,
  presentBlocks,
  referenceDiscrepancies,
  refreshSnapshotDamage,
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
import { FsckReport } from './fsck-report';

const DEEP_READ_CONCURRENCY = 8;
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
    // Swift first: an object listed now had its catalog row before it was written, unless GC since deleted it
    const objects = await this.listObjects(store);
    await injectedDelay('fsck.after-listing');
    const snapshots = await manifestedSnapshots(this.dataSource.manager, region);
    let done = 0;
    const total = snapshots.length + objects.blocks.size;
    for (const snapshot of snapshots) {
      await this.checkManifest(store, snapshot, objects.manifests, report);
      progress(++done, total);
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

    const present = await presentBlocks(this.dataSource.manager, region);
    const known = await knownBlockHashes(this.dataSource.manager, region);
    const knownHashes = new Set(known.map(hex));
    const toRead: PresentBlock[] = [];
    for (const block of present) {
      const size = objects.blocks.get(hex(block.hash));
      if (size === undefined) {
        // listed before the query: a block uploaded in between is simply not in the listing yet
        if (!(await store.blockObjectSize(block.hash))) {
          const keys = options.repair && block.projectId !== null ? await this.keysOf(block.projectId, report) : undefined;
          if (options.repair && keys !== 'unreadable')
            await this.mend(region, store, block, keys, { problem: 'missing', detail: 'the object is not in Swift' }, report);
          else report.add({ kind: 'block-missing', hash: hex(block.hash) });
        }
      } else if (block.storedSize > 0 && size !== block.storedSize) {
        report.add({ kind: 'block-size', hash: hex(block.hash), catalogBytes: block.storedSize, swiftBytes: size });
      } else if (options.deep) {
        toRead.push(block);
      }
    }
    report.checked.blocks = present.length;
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
      progress(++done, total);
    });
    report.checked.readSeconds = Math.round(performance.now() - reading) / 1000;
    if (options.repair) report.damage = await refreshSnapshotDamage(this.dataSource.manager, region);

    // GC deletes an object, then forgets its row: one listed, then collected, is not in the catalog and no longer in Swift
    const orphans = await stillStored(
      [...objects.blocks.keys()].filter((h) => !knownHashes.has(h)),
      async (h) => (await store.blockObjectSize(Buffer.from(h, 'hex'))) !== undefined,
    );
    for (const h of orphans) report.add({ kind: 'orphan-block', hash: h, bytes: objects.blocks.get(h)! });
    const orphanManifests = await stillStored(await this.orphanManifests(region, objects.manifests), (name) => store.swift.objectExists(store.container, name));
    for (const name of orphanManifests) report.add({ kind: 'orphan-manifest', object: name });
    if (options.repair) {
      report.repaired.orphanBlocks = await this.deleteOrphanBlocks(
        region,
        store,
        orphans.map((h) => Buffer.from(h, 'hex')),
      );
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

  private async listObjects(store: SwiftBlockStore): Promise<{ blocks: Map<string, number>; manifests: Set<string> }> {
    const blocks = new Map<string, number>();
    for await (const o of store.swift.iterateObjects(store.container, { prefix: 'blocks/' })) {
      const hash = objectNames.blockHash(o.name);
      if (hash) blocks.set(hex(hash), o.bytes);
    }
    const manifests = new Set<string>();
    for await (const o of store.swift.iterateObjects(store.container, { prefix: objectNames.manifestPrefix() })) manifests.add(o.name);
    return { blocks, manifests };
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
async function stillStored(names: string[], exists: (name: string) => Promise<boolean>): Promise<string[]> {
  const stored = new Set<string>();
  await forEachBounded(names, DEEP_READ_CONCURRENCY, async (name) => {
    if (await exists(name)) stored.add(name);
  });
  return names.filter((name) => stored.has(name));
}
