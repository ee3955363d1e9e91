import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import {
  blocksInGrace,
  CollectableBlock,
  collectableManifests,
  collectableSummary,
  countCollectableManifests,
  forgetDeletedBlocks,
  forgetEndedLeases,
  forgetManifests,
  GcLease,
  hasAbandonedMarks,
  markBlocksForDeletion,
  takeOverAbandonedMarks,
  unmarkBlocks,
} from '@island/catalog';
import { injectedDelay, MetricsService } from '@island/platform';
import { RegionStores, SwiftBlockStore } from '@island/blockstore';
import { deleteWhileLeased } from './leased-deletes';
import { RecycleMarkerSync } from './recycle-marker-sync';

/** Blocks marked, deleted and forgotten together. */
const BATCH = 1000;

/** How a run came to hold a mark: only marks it made itself may be given back unsent (block-collection.ts, unmarkBlocks). */
export type MarkOrigin = 'marked' | 'taken-over' | 'adopted';

export interface GcReport {
  region: string;
  dryRun: boolean;
  graceSeconds: number;
  blocksDeleted: number;
  bytesFreed: number;
  /** Blocks without references still inside the grace window: the next runs delete them. */
  blocksPending: number;
  bytesPending: number;
  manifestsDeleted: number;
  /** Blocks another run marked but did not finish, completed by this one. */
  blocksTakenOver: number;
}

interface Deleted {
  blocks: number;
  bytes: number;
}

/**
 * Deletes what no snapshot needs from a region's Swift: manifests of deleted snapshots, then blocks without
 * references or upload claims past the grace window; on the way it keeps the recycle bin's markers in Swift in line.
 * A run marks blocks in the catalog under its lease, deletes them from Swift while the lease lasts, then forgets them
 * (ARCHITECTURE.md: why GC cannot delete a block a snapshot needs).
 */
@Injectable()
export class GarbageCollector {
  private readonly logger = new Logger(GarbageCollector.name);

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly stores: RegionStores,
    private readonly metrics: MetricsService,
    private readonly recycleMarkers: RecycleMarkerSync,
  ) {}

  async collect(region: string, graceSeconds: number, dryRun: boolean, progress: (done: number) => void = () => undefined): Promise<GcReport> {
    const report: GcReport = {
      region,
      dryRun,
      graceSeconds,
      blocksDeleted: 0,
      bytesFreed: 0,
      blocksPending: 0,
      bytesPending: 0,
      manifestsDeleted: 0,
      blocksTakenOver: 0,
    };
    const store = await this.stores.store(region);
    if (dryRun) {
      await this.plan(region, graceSeconds, report);
    } else {
      report.manifestsDeleted = await this.deleteManifests(region, store);
      // a marker Swift refused now is written by the next run; it never holds back the deletes
      await this.recycleMarkers
        .sync(region, store)
        .catch((e: Error) => this.logger.warn(`GC of region ${region}: recycle-bin markers not brought in line: ${e.message}`));
      await this.withLease(region, async (lease) => {
        const takenOver = await this.takeOver(region, store, lease);
        report.blocksTakenOver = takenOver.blocks;
        report.blocksDeleted += takenOver.blocks;
        report.bytesFreed += takenOver.bytes;
        while (!lease.ended) {
          const batch = await this.dataSource.transaction((m) => markBlocksForDeletion(m, region, graceSeconds, BATCH, lease.token));
          if (batch.length === 0) break;
          const deleted = await this.deleteMarked(region, store, lease, batch, 'marked');
          report.blocksDeleted += deleted.blocks;
          report.bytesFreed += deleted.bytes;
          progress(report.blocksDeleted);
        }
        // the lease ends early only when its catalog session was lost or could not renew it in time
        if (lease.ended) {
          throw new Error(
            `GC of region ${region} stopped early: it lost its lease on the catalog (its database session dropped or stalled) after deleting ${report.blocksDeleted} block(s); ` +
              'the blocks it had marked are taken over by the next sweep within ~20 s — run it again for the rest',
          );
        }
      });
    }
    const pending = await blocksInGrace(this.dataSource.manager, region, graceSeconds);
    report.blocksPending = pending.blocks;
    report.bytesPending = pending.bytes;
    this.metrics.gauge('island_gc_blocks_pending', 'Blocks without references inside the grace window', ['region']).set({ region }, pending.blocks);
    return report;
  }

  /** Completes the deletes of runs that died between marking and forgetting, when a region has any. */
  async completeAbandoned(region: string): Promise<Deleted> {
    if (!(await hasAbandonedMarks(this.dataSource.manager, region))) return { blocks: 0, bytes: 0 };
    const store = await this.stores.store(region);
    return this.withLease(region, (lease) => this.takeOver(region, store, lease));
  }

  /** Runs `work` under a new lease on the region, ended once the work (and every request it sent) is over. */
  async withLease<T>(region: string, work: (lease: GcLease) => Promise<T>): Promise<T> {
    const lease = await GcLease.open(this.dataSource, region);
    try {
      return await work(lease);
    } finally {
      await lease.close();
    }
  }

  /**
   * Deletes a batch held under `lease` from Swift and forgets it. Deletes never sent because the lease ended are
   * given back when this run made the marks; every other mark not forgotten stays for a takeover. Throws when Swift
   * failed a delete while the lease lasted.
   */
  async deleteMarked(region: string, store: SwiftBlockStore, lease: GcLease, batch: CollectableBlock[], origin: MarkOrigin): Promise<Deleted> {
    if (batch.length === 0) return { blocks: 0, bytes: 0 };
    await injectedDelay('gc.after-mark');
    const outcome = await deleteWhileLeased(
      store,
      lease,
      batch.map((b) => b.hash),
    );
    await injectedDelay('gc.after-delete');
    const forgotten = await this.dataSource.transaction((m) => forgetDeletedBlocks(m, region, outcome.deleted, lease.token));
    if (forgotten < outcome.deleted.length) {
      this.logger.warn(`GC of region ${region}: ${outcome.deleted.length - forgotten} block(s) were taken over before they were forgotten`);
    }
    if (outcome.newerKept > 0) {
      this.logger.warn(`GC of region ${region}: ${outcome.newerKept} block(s) were written again during their delete; left in Swift for fsck`);
    }
    const undone = outcome.unsent.length + outcome.uncertain.length;
    if (undone > 0 && lease.ended) {
      const given = origin === 'marked' ? await this.dataSource.transaction((m) => unmarkBlocks(m, region, outcome.unsent, lease.token)) : 0;
      this.logger.warn(`GC of region ${region}: lease ended during a batch, ${undone} delete(s) not done; ${given} mark(s) given back`);
    } else if (outcome.firstError) {
      throw outcome.firstError;
    }

    const deleted = new Set(outcome.deleted.map((h) => h.toString('hex')));
    const bytes = batch.filter((b) => deleted.has(b.hash.toString('hex'))).reduce((sum, b) => sum + b.storedSize, 0);
    this.metrics.counter('island_gc_blocks_deleted_total', 'Blocks deleted from Swift by GC', ['region']).inc({ region }, deleted.size);
    this.metrics.counter('island_gc_bytes_freed_total', 'Stored bytes freed in Swift by GC', ['region']).inc({ region }, bytes);
    return { blocks: deleted.size, bytes };
  }

  /** Takes over and deletes the marks other runs abandoned, while the lease lasts. */
  private async takeOver(region: string, store: SwiftBlockStore, lease: GcLease): Promise<Deleted> {
    const total: Deleted = { blocks: 0, bytes: 0 };
    while (!lease.ended) {
      const batch = await this.dataSource.transaction((m) => takeOverAbandonedMarks(m, region, BATCH, lease.token));
      if (batch.length === 0) break;
      this.metrics
        .counter('island_gc_blocks_taken_over_total', 'Blocks marked by a GC run that stopped, taken over by another', ['region'])
        .inc({ region }, batch.length);
      const deleted = await this.deleteMarked(region, store, lease, batch, 'taken-over');
      total.blocks += deleted.blocks;
      total.bytes += deleted.bytes;
    }
    await forgetEndedLeases(this.dataSource.manager);
    return total;
  }

  /** What a run would delete now, without marking or deleting anything. */
  private async plan(region: string, graceSeconds: number, report: GcReport): Promise<void> {
    const m = this.dataSource.manager;
    const collectable = await collectableSummary(m, region, graceSeconds);
    report.blocksDeleted = collectable.blocks;
    report.bytesFreed = collectable.bytes;
    report.manifestsDeleted = await countCollectableManifests(m, region);
  }

  private async deleteManifests(region: string, store: SwiftBlockStore): Promise<number> {
    let deleted = 0;
    for (;;) {
      const batch = await collectableManifests(this.dataSource.manager, region, BATCH);
      if (batch.length === 0) return deleted;
      await store.swift.bulkDelete(batch.map((b) => ({ container: store.container, name: b.object })));
      await this.dataSource.transaction((m) =>
        forgetManifests(
          m,
          batch.map((b) => b.snapshotId),
        ),
      );
      deleted += batch.length;
      this.metrics.counter('island_gc_manifests_deleted_total', 'Manifests of deleted snapshots removed from Swift', ['region']).inc({ region }, batch.length);
    }
  }
}
