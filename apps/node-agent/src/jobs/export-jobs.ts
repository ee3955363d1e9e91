import { Injectable, Logger } from '@nestjs/common';
import { ImageExport, ImageExported, ImageExportJob, ImageUnexport, ImageUnexported, ImageUnexportJob } from '@island/contracts';
import { IslandConfig } from '@island/config';
import { MessagePublisher, OnMessage } from '@island/messaging';
import { InjectConfig, insideDataDir } from '@island/platform';
import { openForWriting } from '@island/qcow2';
import { SnapshotServer } from '../snapshot-server/snapshot-server';
import { StorageDaemon } from '../storage-daemon/storage-daemon';
import { VolumeLocks } from '../volume-locks';

/** Attaching with an export: the host's storage daemon serves the image to the VM, and lets it go at detach. */
@Injectable()
export class ExportJobs {
  private readonly logger = new Logger('ExportJobs');

  constructor(
    @InjectConfig() private readonly config: IslandConfig,
    private readonly publisher: MessagePublisher,
    private readonly locks: VolumeLocks,
    private readonly daemon: StorageDaemon,
    private readonly snapshots: SnapshotServer,
  ) {}

  @OnMessage(ImageExport)
  export(job: ImageExportJob): Promise<void> {
    return this.locks.run(job.volumeId, async () => {
      const path = insideDataDir(this.config.host.dataDir, job.path);
      if (!(await this.daemon.holds(job.volumeId))) {
        // waits for (and then refuses) another writer, e.g. `island image write`; checks the image too
        const probe = await openForWriting(path);
        await probe.close();
      }
      // a volume made lazily from a snapshot fills while it is served
      const served = await this.daemon.export(job.volumeId, path, job.export, await this.snapshots.fillSourceOf(job.volumeId));
      this.logger.log(`exported ${path} as ${served.nbd ?? served.raw}${served.device ? ` behind ${served.device}` : ''}`);
      await this.publisher.publish(ImageExported, { host: job.host, volumeId: job.volumeId, operationId: job.operationId, ...served });
    });
  }

  @OnMessage(ImageUnexport)
  unexport(job: ImageUnexportJob): Promise<void> {
    return this.locks.run(job.volumeId, async () => {
      await this.daemon.unexport(job.volumeId);
      this.logger.log(`volume ${job.volumeId} is no longer exported`);
      await this.publisher.publish(ImageUnexported, { host: job.host, volumeId: job.volumeId, operationId: job.operationId });
    });
  }
}
