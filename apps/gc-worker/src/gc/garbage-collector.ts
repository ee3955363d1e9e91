import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import {
  abandonedDeletions,
  blocksInGrace,
  CollectableBlock,
  collectableSummary,
  collectableManifests,
  countCollectableManifests,
  forgetDeletedBlocks,
  forgetManifests,
  markBlocksForDeletion,
  stillMarkedBy,
  unmarkBlocks,
} from '@island/catalog';
import { IslandConfig } from '@island/config';
import { InjectConfig, injectedDelay, MetricsService } from '@island/platform';
import { RegionStores, SwiftBlockStore } from '@island/blockstore';

/** Blocks marked, deleted with one bulk request, and forgotten together. */
const BATCH = 1000;

/**
 * A run sends deletes for its marks only within this lease from the moment it began marking them; past it,
 * it stops and leaves them to a takeover.
 */
export const MARK_LEASE_MS = 5 * 60_000;

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

/**
 * Deletes what no snapshot needs from a region's Swift: manifests of deleted snapshots, then blocks without
 * references or upload claims past the grace window. Each batch is marked in the catalog under a fresh
 * fencing token, deleted from Swift while the lease lasts, then forgotten only if still marked by that
 * token (ARCHITECTURE.md: why GC cannot delete a block a snapshot needs).
 */
@Injectable()
export class GarbageCollector {
  private readonly logger = new Logger(GarbageCollector.name);
  /** Marks older than this are another run's abandoned work: long past any request it could still send. */
  readonly takeoverAfterSeconds: number;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @InjectConfig() config: IslandConfig,
    private readonly stores: RegionStores,
    private readonly metrics: MetricsService,
  ) {
    const worstRequestMs = (config.swift.retries + 1) * config.swift.timeoutMs * 2;
    this.takeoverAfterSeconds = Math.max(1800, Math.ceil((2 * (MARK_LEASE_MS + worstRequestMs)) / 1000));
  }

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
      for (;;) {
        const token = randomUUID();
        const started = Date.now();
        const batch = await this.dataSource.transaction((m) => abandonedDeletions(m, region, this.takeoverAfterSeconds, BATCH, token));
        if (batch.length === 0) break;
        const deleted = await this.deleteMarked(region, store, token, started, batch);
        if (!deleted) break;
        report.blocksTakenOver += deleted.blocks;
        report.blocksDeleted += deleted.blocks;
        report.bytesFreed += deleted.bytes;
      }
      for (;;) {
        const token = randomUUID();
        const started = Date.now();
        const batch = await this.dataSource.transaction((m) => markBlocksForDeletion(m, region, graceSeconds, BATCH, token));
        if (batch.length === 0) break;
        const deleted = await this.deleteMarked(region, store, token, started, batch);
        if (!deleted) break;
        report.blocksDeleted += deleted.blocks;
        report.bytesFreed += deleted.bytes;
        progress(report.blocksDeleted);
      }
    }
    const pending = await blocksInGrace(this.dataSource.manager, region, graceSeconds);
    report.blocksPending = pending.blocks;
    report.bytesPending = pending.bytes;
    this.metrics.gauge('island_gc_blocks_pending', 'Blocks without references inside the grace window', ['region']).set({ region }, pending.blocks);
    return report;
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

  /**
   * Deletes a batch marked under `token` (at `started`) from Swift and forgets it. Returns undefined when
   * the lease ran out, or the marks were taken over, before the delete could be sent (marks still held are
   * given back).
   */
  async deleteMarked(
    region: string,
    store: SwiftBlockStore,
    token: string,
    started: number,
    batch: CollectableBlock[],
  ): Promise<{ blocks: number; bytes: number } | undefined> {
    if (batch.length === 0) return { blocks: 0, bytes: 0 };
    const hashes = batch.map((b) => b.hash);
    await injectedDelay('gc.after-mark');
    if (Date.now() - started > MARK_LEASE_MS || !(await stillMarkedBy(this.dataSource.manager, region, hashes, token))) {
      // nothing was sent: the marks still held are given back, the next run decides again
      const given = await this.dataSource.transaction((m) => unmarkBlocks(m, region, hashes, token));
      this.logger.warn(`GC of region ${region}: lease on ${batch.length} marked block(s) ran out before their delete; ${given} mark(s) given back`);
      return undefined;
    }
    await store.deleteBlocks(hashes);
    await injectedDelay('gc.after-delete');
    const forgotten = await this.dataSource.transaction((m) => forgetDeletedBlocks(m, region, hashes, token));
    if (forgotten < batch.length) this.logger.warn(`GC of region ${region}: ${batch.length - forgotten} block(s) were taken over before they were forgotten`);
    const bytes = batch.reduce((sum, b) => sum + b.storedSize, 0);
    this.metrics.counter('island_gc_blocks_deleted_total', 'Blocks deleted from Swift by GC', ['region']).inc({ region }, batch.length);
    this.metrics.counter('island_gc_bytes_freed_total', 'Stored bytes freed in Swift by GC', ['region']).inc({ region }, bytes);
    return { blocks: batch.length, bytes };
  }
}
