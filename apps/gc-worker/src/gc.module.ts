import { Module } from '@nestjs/common';
import { SwiftStoresModule } from '@island/blockstore';
import { CatalogModule } from '@island/catalog';
import { MessagingModule } from '@island/messaging';
import { HealthModule, IslandConfigModule, MetricsModule } from '@island/platform';
import { FsckChecker } from './fsck/fsck';
import { AbandonedMarksSweep } from './gc/abandoned-marks-sweep';
import { GarbageCollector } from './gc/garbage-collector';
import { RecycleMarkerSync } from './gc/recycle-marker-sync';
import { GcScheduler } from './gc/gc-scheduler';
import { OperationRunner } from './gc/operation-runner';
import { GcJobs } from './jobs/gc-jobs';
import { KeyManagement } from './keys/key-management';
import { CatalogRebuilder } from './rebuild/catalog-rebuild';
import { BlockScrubber } from './scrub/block-scrubber';
import { ScrubScheduler } from './scrub/scrub-scheduler';

/**
 * The garbage collector: deletes from Swift the blocks and manifests no snapshot needs once their grace has
 * passed (on its own schedule and on request), checks a region (fsck) and scrubs it on a schedule (repairing lost blocks
 * from another region, marking the rest damaged), rebuilds a catalog from Swift, rotates the
 * KEK and shreds projects' keys.
 */
@Module({
  imports: [
    IslandConfigModule,
    HealthModule,
    MetricsModule,
    SwiftStoresModule,
    CatalogModule.forRoot({ applicationName: 'island-gc', migrate: false }),
    MessagingModule.forService('gc-worker'),
  ],
  providers: [
    GarbageCollector,
    RecycleMarkerSync,
    GcScheduler,
    AbandonedMarksSweep,
    OperationRunner,
    BlockScrubber,
    ScrubScheduler,
    FsckChecker,
    CatalogRebuilder,
    KeyManagement,
    GcJobs,
  ],
})
export class GcModule {}
