import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { recordRecycleMarker, staleRecycleMarkers } from '@island/catalog';
import { SwiftBlockStore } from '@island/blockstore';
import { MetricsService } from '@island/platform';

/** Snapshots looked at per catalog query. */
const BATCH = 500;

/**
 * Brings a region's recycle-bin markers in Swift in line with the catalog (ledger/recycle-markers.ts): a marker
 * written for each snapshot in the bin (replaced when it was deleted again with another retention), removed once
 * the snapshot leaves the bin. The marker is written before the row names it and the row forgets it only after it
 * is gone, so a rebuild in between reads what Swift holds. Only two GC replicas passing one snapshot while it leaves
 * and re-enters the bin can leave a stale marker beside the new one; a rebuild then takes the later purge time.
 */
@Injectable()
export class RecycleMarkerSync {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly metrics: MetricsService,
  ) {}

  /** One pass over the region; returns how many markers it wrote and removed. */
  async sync(region: string, store: SwiftBlockStore): Promise<{ written: number; removed: number }> {
    const done = { written: 0, removed: 0 };
    let after: string | null = null;
    for (;;) {
      const stale = await staleRecycleMarkers(this.dataSource.manager, region, after, BATCH);
      for (const { snapshotId, current, desired } of stale) {
        if (desired) {
          await store.swift.putObject(store.container, desired, Buffer.alloc(0), { contentType: 'application/x-island-recycle-marker' });
          done.written++;
        }
        if (current) {
          await store.swift.deleteObject(store.container, current, { ignoreMissing: true });
          done.removed++;
        }
        await recordRecycleMarker(this.dataSource.manager, snapshotId, current, desired);
      }
      if (stale.length < BATCH) break;
      after = stale[stale.length - 1].snapshotId;
    }
    const counter = this.metrics.counter('island_gc_recycle_markers_total', 'Recycle-bin markers written to or removed from Swift by GC', ['region', 'change']);
    if (done.written > 0) counter.inc({ region, change: 'written' }, done.written);
    if (done.removed > 0) counter.inc({ region, change: 'removed' }, done.removed);
    return done;
  }
}
