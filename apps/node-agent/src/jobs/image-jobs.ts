import { Injectable, Logger } from '@nestjs/common';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  ImageCreate,
  ImageCreated,
  ImageCreateJob,
  ImageDelete,
  ImageDeleted,
  ImageDeleteJob,
  ImageGrow,
  ImageGrown,
  ImageGrowJob,
  ImageReplace,
  ImageReplaced,
  ImageReplaceJob,
} from '@island/contracts';
import { IslandConfig } from '@island/config';
import { MessagePublisher, OnMessage } from '@island/messaging';
import { InjectConfig, insideDataDir } from '@island/platform';
import { createImage, growImage, openForWriting, Qcow2Image } from '@island/qcow2';

import { SnapshotServer } from '../snapshot-server/snapshot-server';
import { StorageDaemon } from '../storage-daemon/storage-daemon';
import { VolumeLocks } from '../volume-locks';

/** Creating, replacing and deleting the image files of this host's volumes (each idempotent). */
@Injectable()
export class ImageJobs {
  private readonly logger = new Logger('ImageJobs');

  constructor(
    @InjectConfig() private readonly config: IslandConfig,
    private readonly publisher: MessagePublisher,
    private readonly locks: VolumeLocks,
    private readonly daemon: StorageDaemon,
    private readonly snapshots: SnapshotServer,
  ) {}

  @OnMessage(ImageCreate)
  create(job: ImageCreateJob): Promise<void> {
    return this.locks.run(job.volumeId, async () => {
      const path = insideDataDir(this.config.host.dataDir, job.path);
      if (!existsSync(path)) {
        await mkdir(dirname(path), { recursive: true });
        const partial = `${path}.creating`;
        await rm(partial, { force: true });
        await createImage(partial, { size: job.sizeBytes });
        await rename(partial, path);
        this.logger.log(`created ${path} (${job.sizeBytes} bytes)`);
      } else {
        // a redelivery: the image exists; it must be the one asked for
        const image = await Qcow2Image.open(path);
        const size = image.header.size;
        await image.close();
        if (size !== Math.ceil(job.sizeBytes / 512) * 512) throw new Error(`${path} exists with size ${size}, not ${job.sizeBytes}`);
      }
      await this.publisher.publish(ImageCreated, { host: job.host, volumeId: job.volumeId, path });
    });
  }

  /** Grows the image (extend); a redelivery finds it grown already and reports it again. */
  @OnMessage(ImageGrow)
  grow(job: ImageGrowJob): Promise<void> {
    return this.locks.run(job.volumeId, async () => {
      const image = await openForWriting(insideDataDir(this.config.host.dataDir, job.path));
      try {
        if (image.header.size < job.sizeBytes) await growImage(image, job.sizeBytes);
      } finally {
        await image.close();
      }
      this.logger.log(`grew ${job.path} to ${job.sizeBytes} bytes`);
      await this.publisher.publish(ImageGrown, { host: job.host, volumeId: job.volumeId, operationId: job.operationId, sizeBytes: job.sizeBytes });
    });
  }

  /** Swaps in a restored image (revert) with one rename: a crash leaves the old image or the new one. */
  @OnMessage(ImageReplace)
  replace(job: ImageReplaceJob): Promise<void> {
    return this.locks.run(job.volumeId, async () => {
      const path = insideDataDir(this.config.host.dataDir, job.path);
      const replacement = insideDataDir(this.config.host.dataDir, job.replacementPath);
      if (existsSync(replacement)) {
        const probe = await openForWriting(path); // waits while someone writes it
        await probe.close();
        await rename(replacement, path);
      } else if (!existsSync(path)) {
        throw Object.assign(new Error(`neither ${replacement} nor ${path} exists`), { code: 'ENOENT' });
      }
      await this.publisher.publish(ImageReplaced, { host: job.host, volumeId: job.volumeId, operationId: job.operationId });
    });
  }

  /** A volume deleted while it fills (detached): the fill stops, the daemon lets go of the image, the snapshot is forgotten. */
  private async stopFilling(volumeId: string): Promise<void> {
    if (!(await this.snapshots.fills.get(volumeId))) return;
    if (!(await this.daemon.cancelFill(volumeId)) && (await this.daemon.fillJob(volumeId))) await this.daemon.dismissFill(volumeId);
    await this.daemon.releaseFilled(volumeId);
    await this.snapshots.forget(volumeId);
    await this.snapshots.fills.remove(volumeId);
  }

  @OnMessage(ImageDelete)
  delete(job: ImageDeleteJob): Promise<void> {
    return this.locks.run(job.volumeId, async () => {
      const path = insideDataDir(this.config.host.dataDir, job.path);
      await this.stopFilling(job.volumeId);
      if (existsSync(path)) {
        const probe = await openForWriting(path); // never delete an image a writer holds
        await probe.close();
      }
      for (const leftover of [path, `${path}.lock`, `${path}.creating`]) await rm(leftover, { force: true });
      this.logger.log(`deleted ${path}`);
      await this.publisher.publish(ImageDeleted, { host: job.host, volumeId: job.volumeId });
    });
  }
}
