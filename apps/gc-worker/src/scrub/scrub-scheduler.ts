import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { KeyUnwrapError, ProjectKeys, ProjectKeyService, ProjectKeyShreddedError, RegionStores, SwiftBlockStore } from '@island/blockstore';
import {
  checkpointScrubPass,
  finishScrubPass,
  presentBlocksAfter,
  refreshSnapshotDamage,
  releaseScrubPass,
  PresentBlock,
  ScrubProgress,
  takeScrubPass,
  unrepairedDamagedBlocks,
} from '@island/catalog';
import { IslandConfig } from '@island/config';
import { forEachBounded, InjectConfig, MetricsService, PeriodicTask } from '@island/platform';
import { BlockScrubber } from './block-scrubber';
import { ByteRateLimiter } from './byte-rate-limiter';

/** Checks whether a pass is due (or one to continue) at most this often. */
const TICK_SECONDS = 10;
/** A holder that stopped renewing loses its pass to another worker after this long. */
const LEASE_SECONDS = 60;
/** A checkpoint about this often at the configured rate (pages of 4 to 256 blocks). */
const CHECKPOINT_SECONDS = 5;
const READ_CONCURRENCY = 4;

/**
 * The worker's own scrubs: every region, a pass over every block the catalog says is present, in hash order, each
 * one read and authenticated at ISLAND_SCRUB_MIB_PER_S, lost ones repaired from another region or marked damaged
 * (with the snapshots that need them), every ISLAND_SCRUB_INTERVAL_HOURS after the last pass finished. A pass records
 * where it is in the catalog at each checkpoint (`scrub_state`) under a lease: after a restart it continues from there,
 * and one replica scrubs a region at a time.
 */
@Injectable()
export class ScrubScheduler implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(ScrubScheduler.name);
  private readonly stopping = new AbortController();
  private readonly task = new PeriodicTask(
    () => this.scrubAll(),
    (e) => this.logger.warn(`scrubs: ${e.message}`),
  );
  /** Stable across restarts of this worker, so that it takes its own pass back at once. */
  private readonly owner: string;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @InjectConfig() private readonly config: IslandConfig,
    private readonly stores: RegionStores,
    private readonly projectKeys: ProjectKeyService,
    private readonly scrubber: BlockScrubber,
    private readonly metrics: MetricsService,
  ) {
    this.owner = `${config.host.name}:${config.ports.gc}`;
  }

  onApplicationBootstrap(): void {
    const seconds = this.config.scrub.intervalSeconds;
    if (seconds === 0) return;
    this.task.start(Math.min(seconds, TICK_SECONDS) * 1000);
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopping.abort();
    await this.task.stop();
  }

  private async scrubAll(): Promise<void> {
    for (const region of this.config.regions) {
      if (this.stopping.signal.aborted) return;
      try {
        await this.scrubRegion(region.name);
      } catch (error) {
        if (this.stopping.signal.aborted) return;
        this.logger.warn(`scrub of region ${region.name} stopped (the next tick continues it): ${(error as Error).message}`);
      }
    }
  }

  private async scrubRegion(region: string): Promise<void> {
    const m = this.dataSource.manager;
    const pass = await takeScrubPass(m, region, this.owner, LEASE_SECONDS, this.config.scrub.intervalSeconds);
    if (!pass) return;
    const store = await this.stores.store(region);
    const limiter = new ByteRateLimiter(this.config.scrub.bytesPerSecond);
    const keys = new PassKeys(this.projectKeys, (projectId, error) =>
      this.logger.warn(`scrub of region ${region}: project ${projectId}'s blocks not checked: ${error}`),
    );
    if (pass.cursor === null && pass.blocks === 0) {
      this.logger.log(`scrub of region ${region}: a pass begins`);
      // blocks left damaged by earlier passes first: another region may hold them now, or they were put back
      const progress = await this.scrubBlocks(region, store, await unrepairedDamagedBlocks(m, region), keys, limiter);
      if (progress.repaired + progress.unmarked > 0) await refreshSnapshotDamage(m, region);
      if (!(await checkpointScrubPass(m, region, this.owner, LEASE_SECONDS, { ...progress, cursor: null }))) return;
    }
    const pageSize = pageFor(this.config.scrub.bytesPerSecond, this.config.blocks.size);
    let cursor = pass.cursor;
    for (;;) {
      const page = await presentBlocksAfter(m, region, cursor, pageSize);
      if (page.length === 0) break;
      const progress = await this.scrubBlocks(region, store, page, keys, limiter);
      if (this.stopping.signal.aborted) return releaseScrubPass(m, region, this.owner); // this page again next time
      cursor = page[page.length - 1].hash;
      if (progress.repaired + progress.damaged + progress.unmarked > 0) await refreshSnapshotDamage(m, region);
      if (!(await checkpointScrubPass(m, region, this.owner, LEASE_SECONDS, { ...progress, cursor }))) return;
      this.progressGauge().set({ region }, cursor.readUInt32BE(0) / 2 ** 32);
    }
    const damage = await refreshSnapshotDamage(m, region);
    await finishScrubPass(m, region, this.owner, { damagedBlocks: damage.damagedBlocks, damagedSnapshots: damage.damagedSnapshots });
    this.progressGauge().set({ region }, 1);
    this.metrics
      .gauge('island_scrub_damaged_blocks', 'Blocks marked damaged (lost in Swift, no other region held them)', ['region'])
      .set({ region }, damage.damagedBlocks);
    this.metrics.gauge('island_scrub_damaged_snapshots', 'Live snapshots that need a damaged block', ['region']).set({ region }, damage.damagedSnapshots);
    this.metrics.counter('island_scrub_passes_total', 'Scrub passes finished', ['region']).inc({ region });
    const level = damage.damagedBlocks > 0 ? 'warn' : 'log';
    this.logger[level](`scrub of region ${region}: pass done; ${damage.damagedBlocks} damaged block(s), ${damage.damagedSnapshots} damaged snapshot(s)`);
  }

  /** Scrubs a page of blocks; stops early (what it counted so far discarded by the caller) once the worker stops. */
  private async scrubBlocks(
    region: string,
    store: SwiftBlockStore,
    blocks: PresentBlock[],
    keys: PassKeys,
    limiter: ByteRateLimiter,
  ): Promise<Omit<ScrubProgress, 'cursor'> & { unmarked: number }> {
    const progress = { blocks: 0, bytes: 0, repaired: 0, damaged: 0, unmarked: 0 };
    const signal = this.stopping.signal;
    try {
      await forEachBounded(blocks, READ_CONCURRENCY, async (block) => {
        if (signal.aborted) return;
        const projectKeys = block.projectId === null ? undefined : await keys.of(block.projectId);
        if (projectKeys === 'unreadable') return;
        const found = await this.scrubber.check(region, store, block, projectKeys, limiter, signal);
        progress.blocks++;
        progress.bytes += block.storedSize;
        if (found.problem === undefined) {
          if (block.damagedReason !== null && (await this.scrubber.unmark(region, store, block))) progress.unmarked++;
          return;
        }
        const mended = await this.scrubber.mend(region, store, block, projectKeys, found);
        if (mended.repairedFrom !== undefined) {
          progress.repaired++;
          this.logger.warn(`scrub of region ${region}: block ${block.hash.toString('hex')} was ${found.problem}; repaired from ${mended.repairedFrom}`);
        } else if (mended.marked) {
          progress.damaged++;
          this.logger.warn(`scrub of region ${region}: ${mended.reason}`);
        }
      });
    } catch (error) {
      if (!signal.aborted) throw error;
    }
    return progress;
  }

  private progressGauge() {
    return this.metrics.gauge('island_scrub_pass_progress_ratio', "How far the region's scrub pass has come (0–1; blocks go in hash order)", ['region']);
  }
}

/** About CHECKPOINT_SECONDS of reading at the rate, 4 to 256 blocks (256 when unlimited). */
function pageFor(bytesPerSecond: number, blockSize: number): number {
  if (bytesPerSecond <= 0) return 256;
  return Math.min(256, Math.max(4, Math.floor((bytesPerSecond * CHECKPOINT_SECONDS) / blockSize)));
}

/**
 * Projects' keys for one pass: a project whose key was shredded is skipped (unreadable by design), one whose key no
 * KEK opens is skipped and told once.
 */
class PassKeys {
  private readonly unreadable = new Set<string>();

  constructor(
    private readonly keys: ProjectKeyService,
    private readonly tell: (projectId: string, error: string) => void,
  ) {}

  async of(projectId: string): Promise<ProjectKeys | undefined | 'unreadable'> {
    if (this.unreadable.has(projectId)) return 'unreadable';
    try {
      return await this.keys.keysFor(projectId);
    } catch (error) {
      if (!(error instanceof ProjectKeyShreddedError) && !(error instanceof KeyUnwrapError)) throw error;
      this.unreadable.add(projectId);
      if (error instanceof KeyUnwrapError) this.tell(projectId, error.message);
      return 'unreadable';
    }
  }
}
