import { Injectable } from '@nestjs/common';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { RegionStores } from '@island/blockstore';
import { IslandConfig } from '@island/config';
import { OperationProgress, VolumeRestore, VolumeRestored, VolumeRestoreJob } from '@island/contracts';
import { MessagePublisher, OnMessage } from '@island/messaging';
import { InjectConfig, injectedDelay, insideDataDir, MetricsService } from '@island/platform';
import { createImage, createSnapshot, Qcow2Error, Qcow2Image } from '@island/qcow2';
import { RestoreWriter } from './restore-writer';

const GET_CONCURRENCY = 8;
const AHEAD = 32;
const PROGRESS_MS = 1_000;

/**
 * Restores a snapshot into a new image on this host: the manifest names every block, so any snapshot
 * restores in the same way and time, with no chain to replay. Blocks are fetched in parallel and verified
 * against their SHA-256 names; one writer fills the image; the point in time that equals the snapshot is
 * taken; then the image is renamed into place.
 */
@Injectable()
export class RestoreJobs {
  constructor(
    @InjectConfig() private readonly config: IslandConfig,
    private readonly stores: RegionStores,
    private readonly publisher: MessagePublisher,
    private readonly metrics: MetricsService,
  ) {}

  @OnMessage(VolumeRestore)
  async restore(job: VolumeRestoreJob): Promise<void> {
    const target = insideDataDir(this.config.host.dataDir, job.targetPath);
    if (existsSync(target) && (await this.hasPointInTime(target, job.pointInTime))) {
      return await this.done(job, target, 0, 0); // a redelivery after the work finished
    }
    const { bytes, blocks } = await this.fill(job, target);
    await this.done(job, target, bytes, blocks);
  }

  private async fill(job: VolumeRestoreJob, target: string): Promise<{ bytes: number; blocks: number }> {
    const store = await this.stores.store(job.region);
    const manifest = await store.getManifest(job.manifestObject);
    await injectedDelay('restore.after-manifest');
    if (manifest.volumeSize > job.sizeBytes)
      throw new Qcow2Error(`manifest ${job.manifestObject} is ${manifest.volumeSize} bytes, larger than the volume (${job.sizeBytes})`);
    const partial = `${target}.restoring`;
    await mkdir(dirname(target), { recursive: true });
    await rm(partial, { force: true });
    await rm(`${partial}.lock`, { force: true });
    await createImage(partial, { size: job.sizeBytes });
    const image = await Qcow2Image.open(partial, { writable: true });
    const blocks = manifest.distinctBlocks();
    const writer = new RestoreWriter(image, manifest.blockSize, AHEAD);
    let lastProgress = Date.now();
    try {
      // fetch in parallel, each distinct block once; one writer fills the image, and fetchers run ahead of
      // it by at most AHEAD queued blocks (plus the batch being written), so memory stays bounded while the
      // network never waits for the disk
      let next = 0;
      const fetcher = async () => {
        try {
          while (next < blocks.length) {
            const block = blocks[next++];
            await writer.add(block.indexes, await store.getBlock(block.hash));
            if (Date.now() - lastProgress >= PROGRESS_MS) {
              lastProgress = Date.now();
              await this.publisher.publish(OperationProgress, {
                operationId: job.operationId,
                resourceId: job.volumeId,
                done: writer.entriesWritten,
                total: manifest.entryCount,
              });
            }
          }
        } catch (error) {
          next = blocks.length; // the other fetchers stop after the block they are fetching
          throw error;
        }
      };
      // every fetcher has stopped before the image is closed, so none hands the writer a block afterwards
      const fetched = await Promise.allSettled(Array.from({ length: GET_CONCURRENCY }, fetcher));
      const failed = fetched.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
      await writer.finish();
      await createSnapshot(image, job.pointInTime);
    } finally {
      await writer.finish().catch(() => undefined); // never close under a write in flight
      await image.close();
    }
    await rename(partial, target);
    this.metrics.counter('island_worker_bytes_restored_total', 'Guest bytes written by restores').inc(writer.bytesWritten);
    return { bytes: writer.bytesWritten, blocks: writer.entriesWritten };
  }

  private async hasPointInTime(path: string, pointInTime: string): Promise<boolean> {
    const image = await Qcow2Image.open(path);
    try {
      return image.snapshots().some((s) => s.name === pointInTime);
    } finally {
      await image.close();
    }
  }

  private async done(job: VolumeRestoreJob, target: string, bytesWritten: number, blocksWritten: number): Promise<void> {
    await this.publisher.publish(VolumeRestored, {
      host: job.host,
      volumeId: job.volumeId,
      operationId: job.operationId,
      purpose: job.purpose,
      targetPath: target,
      pointInTime: job.pointInTime,
      bytesWritten,
      blocksWritten,
    });
  }
}
