import { Injectable, Logger } from '@nestjs/common';
import {
  PointsInTimeRelease,
  PointsInTimeReleaseJob,
  SnapshotDiff,
  SnapshotDiffed,
  SnapshotDiffJob,
  SnapshotTake,
  SnapshotTaken,
  SnapshotTakeJob,
} from '@island/contracts';
import { IslandConfig } from '@island/config';
import { MessagePublisher, OnMessage } from '@island/messaging';
import { InjectConfig, insideDataDir } from '@island/platform';
import { createSnapshot, deleteSnapshot, diffSnapshots, openForWriting, Qcow2Image } from '@island/qcow2';

import { VolumeLocks } from '../volume-locks';
import { extentsToBlockRuns } from './extents-to-blocks';
import { reportingPermanentFailures } from './job-failures';

/**
 * Points in time are internal qcow2 snapshots of the volume's image. Taking one is a metadata operation;
 * what changed since the previous one comes from L1/L2 metadata alone (libs/qcow2 diff).
 */
@Injectable()
export class SnapshotJobs {
  private readonly logger = new Logger('SnapshotJobs');

  constructor(
    @InjectConfig() private readonly config: IslandConfig,
    private readonly publisher: MessagePublisher,
    private readonly locks: VolumeLocks,
  ) {}

  @OnMessage(SnapshotTake)
  take(job: SnapshotTakeJob): Promise<void> {
    return this.locks.run(job.volumeId, () =>
      reportingPermanentFailures(this.publisher, this.logger, { name: SnapshotTake.name, host: job.host, resourceId: job.snapshotId }, async () => {
        const image = await openForWriting(insideDataDir(this.config.host.dataDir, job.path));
        try {
          if (!image.snapshots().some((s) => s.name === job.pointInTime)) await createSnapshot(image, job.pointInTime);
        } finally {
          await image.close();
        }
        await this.publisher.publish(SnapshotTaken, { host: job.host, snapshotId: job.snapshotId });
      }),
    );
  }

  @OnMessage(SnapshotDiff)
  diff(job: SnapshotDiffJob): Promise<void> {
    return reportingPermanentFailures(this.publisher, this.logger, { name: SnapshotDiff.name, host: job.host, resourceId: job.snapshotId }, async () => {
      // snapshots are immutable: a read-only open beside the writer is safe, no volume lock needed
      const image = await Qcow2Image.open(insideDataDir(this.config.host.dataDir, job.path));
      try {
        const { extents } = await diffSnapshots(image, job.base, job.pointInTime);
        const bytesChanged = extents.reduce((n, e) => n + e.length, 0);
        await this.publisher.publish(SnapshotDiffed, {
          host: job.host,
          snapshotId: job.snapshotId,
          changed: extentsToBlockRuns(extents, job.blockSize),
          bytesChanged,
        });
      } finally {
        await image.close();
      }
    });
  }

  /** Drops points in time no longer needed; ones already gone are fine (a redelivery). */
  @OnMessage(PointsInTimeRelease)
  release(job: PointsInTimeReleaseJob): Promise<void> {
    return this.locks.run(job.volumeId, async () => {
      const path = insideDataDir(this.config.host.dataDir, job.path);
      let image: Qcow2Image;
      try {
        image = await openForWriting(path);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return; // the volume's image is gone already
        throw error;
      }
      try {
        for (const name of job.drop) {
          if (image.snapshots().some((s) => s.name === name)) await deleteSnapshot(image, name);
        }
      } finally {
        await image.close();
      }
    });
  }
}
