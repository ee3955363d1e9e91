import { Injectable, Logger } from '@nestjs/common';
import {
  ChangedBlocks,
  GroupPoint,
  PointsInTimeRelease,
  PointsInTimeReleaseJob,
  SnapshotDiff,
  SnapshotDiffed,
  SnapshotDiffJob,
  SnapshotTake,
  SnapshotTaken,
  SnapshotTakeGroup,
  SnapshotTakeGroupJob,
  SnapshotTakeJob,
  TakeDiffRequest,
  TakenDiff,
} from '@island/contracts';
import { IslandConfig } from '@island/config';
import { MessagePublisher, OnMessage } from '@island/messaging';
import { InjectConfig, insideDataDir } from '@island/platform';
import { createSnapshot, deleteSnapshot, diffSnapshots, openForWriting, Qcow2Image, retryingTornReads } from '@island/qcow2';

import { StorageDaemon } from '../storage-daemon/storage-daemon';
import { VolumeLocks } from '../volume-locks';
import { extentsToBlockRuns } from './extents-to-blocks';

/**
 * Points in time are internal qcow2 snapshots of the volume's image. Taking one is a metadata operation;
 * what changed since the previous one comes from L1/L2 metadata alone (libs/qcow2 diff).
 */
@Injectable()
export class SnapshotJobs {
  private readonly logger = new Logger(SnapshotJobs.name);

  constructor(
    @InjectConfig() private readonly config: IslandConfig,
    private readonly publisher: MessagePublisher,
    private readonly locks: VolumeLocks,
    private readonly daemon: StorageDaemon,
  ) {}

  @OnMessage(SnapshotTake)
  take(job: SnapshotTakeJob): Promise<void> {
    return this.locks.run(job.volumeId, async () => {
      await this.takeTogether([job]);
      await this.publishTaken(job.host, job);
    });
  }

  /** Reports a point in time taken, with the diff its take asked for when that can be had. */
  private async publishTaken(host: string, point: GroupPoint): Promise<void> {
    const diff = point.diff && (await this.diffAfterTake(point, point.diff));
    await this.publisher.publish(SnapshotTaken, { host, snapshotId: point.snapshotId, ...(diff && { diff }) });
  }

  /**
   * The diff the take asked for, or undefined when it cannot be had (its base dropped meanwhile, say): the point in
   * time is taken either way, and the API then asks for the diff on its own (SnapshotDiff).
   */
  private async diffAfterTake(point: GroupPoint, request: TakeDiffRequest): Promise<TakenDiff | undefined> {
    const base = request.base ?? null;
    try {
      return { base, ...(await this.changedBlocks(point.path, base, point.pointInTime, request.blockSize)) };
    } catch (error) {
      this.logger.warn(
        `snapshot ${point.snapshotId}: taken, but its diff against ${base ?? 'nothing'} failed; the API will ask again: ${(error as Error).message}`,
      );
      return undefined;
    }
  }

  /** Points in time of several volumes at one instant (a consistency group). */
  @OnMessage(SnapshotTakeGroup)
  takeGroup(job: SnapshotTakeGroupJob): Promise<void> {
    return this.locks.runAll(
      job.points.map((p) => p.volumeId),
      async () => {
        await this.takeTogether(job.points);
        for (const p of job.points) await this.publishTaken(job.host, p);
      },
    );
  }

  /**
   * Takes the points in time not taken yet (a redelivery finds some or all there), all at one instant: the
   * exported ones in one transaction of the storage daemon while VMs write on; the file-mode ones while
   * holding every one of their images, so no writer can slip between them. The caller holds their locks.
   */
  private async takeTogether(points: { volumeId: string; path: string; pointInTime: string }[]): Promise<void> {
    const exported: typeof points = [];
    const files: { point: (typeof points)[number]; image: Qcow2Image }[] = [];
    try {
      for (const point of points) {
        const path = insideDataDir(this.config.host.dataDir, point.path);
        if (await this.daemon.holds(point.volumeId)) {
          // snapshot metadata is read beside the daemon: only its own writes change it
          const image = await Qcow2Image.open(path);
          const taken = image.snapshots().some((s) => s.name === point.pointInTime);
          await image.close();
          if (!taken) exported.push(point);
        } else {
          const image = await openForWriting(path);
          files.push({ point, image });
        }
      }
      if (exported.length > 0) await this.daemon.snapshot(exported.map((p) => ({ volumeId: p.volumeId, name: p.pointInTime })));
      for (const { point, image } of files) {
        if (!image.snapshots().some((s) => s.name === point.pointInTime)) await createSnapshot(image, point.pointInTime);
      }
    } finally {
      for (const { image } of files) await image.close();
    }
  }

  @OnMessage(SnapshotDiff)
  async diff(job: SnapshotDiffJob): Promise<void> {
    const changed = await this.changedBlocks(job.path, job.base, job.pointInTime, job.blockSize);
    await this.publisher.publish(SnapshotDiffed, { host: job.host, snapshotId: job.snapshotId, ...changed });
  }

  /** The blocks that changed between two points in time of the image at `path`, from its metadata alone. */
  private async changedBlocks(path: string, base: string | null, pointInTime: string, blockSize: number): Promise<ChangedBlocks> {
    const { extents } = await retryingTornReads(async () => {
      // snapshots are immutable: a read-only open beside the writer is safe, no volume lock needed
      const image = await Qcow2Image.open(insideDataDir(this.config.host.dataDir, path));
      try {
        return await diffSnapshots(image, base, pointInTime);
      } finally {
        await image.close();
      }
    });
    return { changed: extentsToBlockRuns(extents, blockSize), bytesChanged: extents.reduce((n, e) => n + e.length, 0) };
  }

  /** Drops points in time no longer needed; ones already gone are fine (a redelivery). */
  @OnMessage(PointsInTimeRelease)
  release(job: PointsInTimeReleaseJob): Promise<void> {
    return this.locks.run(job.volumeId, async () => {
      const path = insideDataDir(this.config.host.dataDir, job.path);
      if (await this.daemon.holds(job.volumeId)) {
        for (const name of job.drop) await this.daemon.deleteSnapshot(job.volumeId, name);
        return;
      }
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
