import { Module, OnModuleInit } from '@nestjs/common';
import { SwiftStoresModule } from '@island/blockstore';
import { CatalogModule } from '@island/catalog';
import { IslandConfig } from '@island/config';
import { MessagingModule } from '@island/messaging';
import { HealthModule, InjectConfig, IslandConfigModule, MetricsModule, ReadinessRegistry, registerDataDirReadiness } from '@island/platform';
import { HeartbeatService } from './heartbeat.service';
import { ExportJobs } from './jobs/export-jobs';
import { FillJobs } from './jobs/fill-jobs';
import { ImageJobs } from './jobs/image-jobs';
import { SnapshotJobs } from './jobs/snapshot-jobs';
import { FillMonitor } from './snapshot-server/fill-monitor';
import { SnapshotServer } from './snapshot-server/snapshot-server';
import { ServedVolumes } from './storage-daemon/served-volumes';
import { StorageDaemon } from './storage-daemon/storage-daemon';
import { VolumeLocks } from './volume-locks';

/** The node agent: owns this host's qcow2 images under its data directory. */
@Module({
  imports: [
    IslandConfigModule,
    HealthModule,
    MetricsModule,
    // projects' keys and Swift, for the snapshot server that fills volumes made lazily from snapshots
    SwiftStoresModule,
    CatalogModule.forRoot({ applicationName: 'island-agent', migrate: false }),
    MessagingModule.forService('node-agent'),
  ],
  providers: [VolumeLocks, StorageDaemon, SnapshotServer, FillMonitor, ServedVolumes, ImageJobs, SnapshotJobs, ExportJobs, FillJobs, HeartbeatService],
})
export class AgentModule implements OnModuleInit {
  constructor(
    @InjectConfig() private readonly config: IslandConfig,
    private readonly readiness: ReadinessRegistry,
  ) {}

  onModuleInit(): void {
    registerDataDirReadiness(this.readiness, this.config.host.dataDir, 'write');
  }
}
