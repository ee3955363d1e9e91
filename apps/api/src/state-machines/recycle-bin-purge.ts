import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { IslandConfig } from '@island/config';
import { InjectConfig, MetricsService, PeriodicTask } from '@island/platform';
import { UnitOfWork } from '../outbox/unit-of-work';
import { purgeSnapshotInCatalog } from '../requests/snapshot-deletion';

/** Snapshots one pass purges at most (each in its own transaction); the rest wait for the next pass. */
const PURGE_BATCH = 200;

/**
 * Empties the recycle bin of what it kept long enough: every sweep interval (ISLAND_SWEEP_SECONDS), each recycled
 * snapshot whose `purge_after` has passed loses its references exactly as a delete without the bin drops them, in
 * its own transaction under the volume → snapshot locks (an undelete or the admin's purge in between wins: the
 * snapshot is checked again under the lock). GC then frees its blocks after the grace window, and its manifest.
 */
@Injectable()
export class RecycleBinPurge implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(RecycleBinPurge.name);
  private readonly task = new PeriodicTask(
    () => this.purgeDue(),
    (e) => this.logger.warn(`recycle bin purge: ${e.message}`),
  );

  constructor(
    @InjectConfig() private readonly config: IslandConfig,
    private readonly uow: UnitOfWork,
    private readonly metrics: MetricsService,
  ) {}

  onApplicationBootstrap(): void {
    this.task.start(this.config.operations.sweepSeconds * 1000);
  }

  onApplicationShutdown(): Promise<void> {
    return this.task.stop();
  }

  /** One pass; returns how many snapshots it purged. */
  async purgeDue(): Promise<number> {
    const due = await this.uow.read((catalog) => catalog.snapshots.duePurge(PURGE_BATCH));
    let purged = 0;
    for (const id of due) if (await this.purge(id)) purged++;
    if (purged > 0) {
      this.logger.log(`purged ${purged} snapshot(s) whose recycle-bin retention ended`);
      this.metrics.counter('island_snapshots_purged_total', 'Recycled snapshots purged once their retention ended').inc(purged);
    }
    return purged;
  }

  private purge(id: string): Promise<boolean> {
    return this.uow.run(async ({ catalog }) => {
      const snapshot = await catalog.snapshots.lockWithVolume(id);
      if (!snapshot || (await catalog.snapshots.duePurge(1, id)).length === 0) return false; // undeleted (or deleted again) meanwhile
      await purgeSnapshotInCatalog(catalog, snapshot, this.metrics);
      return true;
    });
  }
}
