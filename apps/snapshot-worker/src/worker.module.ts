import { Logger, Module, OnModuleInit } from '@nestjs/common';
import { mkdir } from 'node:fs/promises';
import { aead, blockMemoryAligned, md5Many, SwiftStoresModule } from '@island/blockstore';
import { CatalogModule } from '@island/catalog';
import { IslandConfig } from '@island/config';
import { MessagingModule } from '@island/messaging';
import { directWritesAllowed } from '@island/qcow2';
import { HealthModule, InjectConfig, IslandConfigModule, MetricsModule, ReadinessRegistry, registerDataDirReadiness } from '@island/platform';
import { CopyJobs } from './jobs/copy-jobs';
import { ManifestJobs } from './jobs/manifest-jobs';
import { RestoreJobs } from './jobs/restore-jobs';
import { UploadJobs } from './jobs/upload-jobs';
import { BlockJobs } from './jobs/block-jobs';
import { BlockRecoverJobs } from './jobs/block-recover-jobs';

/** A snapshot worker: moves blocks between this host's images and Swift, and between regions. */
@Module({
  imports: [
    IslandConfigModule,
    HealthModule,
    MetricsModule,
    SwiftStoresModule,
    CatalogModule.forRoot({ applicationName: 'island-worker', migrate: false }),
    MessagingModule.forService('snapshot-worker', { prefetch: 2 }),
  ],
  providers: [UploadJobs, ManifestJobs, RestoreJobs, CopyJobs, BlockJobs, BlockRecoverJobs],
})
export class WorkerModule implements OnModuleInit {
  constructor(
    @InjectConfig() private readonly config: IslandConfig,
    private readonly readiness: ReadinessRegistry,
  ) {}

  async onModuleInit(): Promise<void> {
    registerDataDirReadiness(this.readiness, this.config.host.dataDir, 'write');
    // what an operator checks when a host's snapshots or restores cost more CPU than expected (docs/performance.md)
    new Logger('Worker').log(
      `blocks sealed and opened with ${aead.implementation === 'native' ? "island's addon" : 'node:crypto'}, their MD5s computed ${md5Many.implementation === 'node:crypto' ? 'by node:crypto one at a time' : `in ${md5Many.implementation} vector lanes`}; ${await this.restoreWrites()}`,
    );
  }

  private async restoreWrites(): Promise<string> {
    if (!blockMemoryAligned) return "restored images written through the page cache (island's addon, which aligns block memory, is not built)";
    const dir = this.config.host.dataDir;
    const allowed = await mkdir(dir, { recursive: true })
      .then(() => directWritesAllowed(dir))
      .catch((error: Error) => `not known (${error.message})`);
    if (allowed === true) return `restored images written past the page cache (O_DIRECT) in ${dir}`;
    return `restored images written through the page cache: ${allowed === false ? `the file system of ${dir} refuses O_DIRECT` : `O_DIRECT in ${dir} ${allowed}`}`;
  }
}
