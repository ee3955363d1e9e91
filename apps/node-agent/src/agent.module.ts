import { Module, OnModuleInit } from '@nestjs/common';
import { IslandConfig } from '@island/config';
import { MessagingModule } from '@island/messaging';
import { HealthModule, InjectConfig, IslandConfigModule, MetricsModule, ReadinessRegistry, registerDataDirReadiness } from '@island/platform';
import { HeartbeatService } from './heartbeat.service';
import { ExportJobs } from './jobs/export-jobs';
import { ImageJobs } from './jobs/image-jobs';
import { SnapshotJobs } from './jobs/snapshot-jobs';
import { StorageDaemon } from './storage-daemon/storage-daemon';
import { VolumeLocks } from './volume-locks';

/** The node agent: owns this host's qcow2 images under its data directory. */
@Module({
  imports: [IslandConfigModule, HealthModule, MetricsModule, MessagingModule.forService('node-agent')],
  providers: [VolumeLocks, StorageDaemon, ImageJobs, SnapshotJobs, ExportJobs, HeartbeatService],
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
