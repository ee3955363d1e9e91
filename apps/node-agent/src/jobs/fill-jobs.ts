import { Injectable, Logger } from '@nestjs/common';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ProjectKeyService, RegionStores } from '@island/blockstore';
import { ImageCreateFromSnapshot, ImageCreateFromSnapshotJob, VolumeRestored } from '@island/contracts';
import { IslandConfig } from '@island/config';
import { MessagePublisher, OnMessage, PermanentMessageError } from '@island/messaging';
import { InjectConfig, insideDataDir } from '@island/platform';
import { createImage, createSnapshot, hasSnapshotNamed, openForWriting } from '@island/qcow2';
import { FillSource } from '../snapshot-server/fill-registry';
import { SnapshotServer } from '../snapshot-server/snapshot-server';
import { VolumeLocks } from '../volume-locks';

/** The cluster sizes qcow2 allows: a lazily filled image's cluster is one block, so a block is local whole or not at all. */
const MIN_CLUSTER = 512;
const MAX_CLUSTER = 2 * 1024 * 1024;

/**
 * A volume from a snapshot, usable at once: its image starts empty, backed by the snapshot as this host's snapshot
 * server serves it, and the storage daemon fills it once exported (StorageDaemon.startFill). One cluster per block,
 * so that a block is in the image whole or not at all: a point in time taken while it fills names whole blocks.
 */
@Injectable()
export class FillJobs {
  private readonly logger = new Logger('FillJobs');

  constructor(
    @InjectConfig() private readonly config: IslandConfig,
    private readonly publisher: MessagePublisher,
    private readonly locks: VolumeLocks,
    private readonly server: SnapshotServer,
    private readonly stores: RegionStores,
    private readonly projectKeys: ProjectKeyService,
  ) {}

  @OnMessage(ImageCreateFromSnapshot)
  createFromSnapshot(job: ImageCreateFromSnapshotJob): Promise<void> {
    return this.locks.run(job.volumeId, async () => {
      const path = insideDataDir(this.config.host.dataDir, job.path);
      if (!existsSync(path) || !(await hasSnapshotNamed(path, job.pointInTime))) await this.create(job, path);
      await this.publisher.publish(VolumeRestored, {
        host: job.host,
        volumeId: job.volumeId,
        operationId: job.operationId,
        purpose: 'attach',
        targetPath: path,
        pointInTime: job.pointInTime,
        bytesWritten: 0,
        blocksWritten: 0,
      });
    });
  }

  private async create(job: ImageCreateFromSnapshotJob, path: string): Promise<void> {
    const store = await this.stores.store(job.region);
    const keys = await this.projectKeys.keysFor(job.projectId);
    const manifest = await store.readManifest(job.manifestObject, keys, job.manifestSealed);
    try {
      const { blockSize, volumeSize } = manifest.header;
      if (blockSize < MIN_CLUSTER || blockSize > MAX_CLUSTER || (blockSize & (blockSize - 1)) !== 0) {
        throw new PermanentMessageError(
          `snapshot blocks of ${blockSize} bytes cannot be qcow2 clusters (a power of two up to ${MAX_CLUSTER}): attach in file mode`,
        );
      }
      if (volumeSize > job.sizeBytes)
        throw new PermanentMessageError(`manifest ${job.manifestObject} is ${volumeSize} bytes, larger than the volume (${job.sizeBytes})`);
      const source: FillSource = {
        volumeId: job.volumeId,
        imagePath: path,
        projectId: job.projectId,
        region: job.region,
        manifestObject: job.manifestObject,
        manifestSealed: job.manifestSealed,
        blockSize,
        snapshotBytes: volumeSize,
        volumeBytes: Math.ceil(job.sizeBytes / 512) * 512,
        attempts: 0,
      };
      await this.server.fills.add(source, manifest);
      await mkdir(dirname(path), { recursive: true });
      const partial = `${path}.creating`;
      await rm(partial, { force: true });
      await createImage(partial, {
        size: source.volumeBytes,
        clusterSize: blockSize,
        backingFile: this.server.backingUri(job.volumeId),
        backingFormat: 'raw',
      });
      const image = await openForWriting(partial);
      try {
        await createSnapshot(image, job.pointInTime); // the point in time that equals the snapshot: nothing local yet
      } finally {
        await image.close();
      }
      await rename(partial, path);
      this.logger.log(`created ${path}, filling from ${job.manifestObject} once exported`);
    } finally {
      manifest.close();
    }
  }
}
