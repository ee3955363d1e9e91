import { Injectable, Logger } from '@nestjs/common';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { blockBuffers, blockMemory, ProjectKeys, ProjectKeyService, RecentBlocks, RegionStores, SwiftBlockStore } from '@island/blockstore';
import { IslandConfig } from '@island/config';
import { OperationProgress, VolumeRestore, VolumeRestored, VolumeRestoreJob } from '@island/contracts';
import { isPermanentFailure, MessageContext, MessagePublisher, OnMessage } from '@island/messaging';
import { InjectConfig, injectedDelay, insideDataDir, MetricsService } from '@island/platform';
import { createSnapshot, hasSnapshotNamed, ImageLockedError, Qcow2Error } from '@island/qcow2';
import { OpenedPartial, PartialRestore } from '../restore/partial-restore';
import { RestoreCheckpoints } from '../restore/restore-checkpoints';
import { restoreIdentity } from '../restore/restore-record';
import { assertRoomFor } from '../restore/free-space';
import { RestoreWriter } from '../restore/restore-writer';
import { LentBlocks } from '../restore/lent-blocks';

import { RestorePlan } from '../restore/restore-plan';

const GET_CONCURRENCY = 8;
const AHEAD = 16;
const PROGRESS_MS = 1_000;
/** Distinct blocks kept after fetching, so that one repeated nearby (a pattern, a copied file) is fetched once. */
const RECENT = 16;
/**
 * ...and at most this much memory of them (4 blocks of 4 MiB): kept outside the process's block memory budget (see
 * LentBlocks), two restores at most per worker (the host queue's prefetch).
 */
const RESTORE_RECENT_BYTES = 16 * 1024 * 1024;

/**
 * Restores a snapshot into a new image on this host: the manifest names every block, so any snapshot
 * restores in the same way and time, with no chain to replay. Blocks are fetched in parallel, authenticated and
 * verified against their names (the project's keyed hash; the SHA-256 of blocks stored before encryption) before
 * any byte reaches the image; one writer fills the image; the point in time that equals the snapshot is
 * taken; then the image is renamed into place. A restore delivered again (a retry after a transient error, or
 * a redelivery after the worker died) resumes from the blocks its partial image already holds (PartialRestore).
 */
@Injectable()
export class RestoreJobs {
  private readonly logger = new Logger('RestoreVolume');
  /** Targets being restored by this process: a second delivery of the same restore waits for a retry. */
  private readonly running = new Set<string>();

  constructor(
    @InjectConfig() private readonly config: IslandConfig,
    private readonly stores: RegionStores,
    private readonly projectKeys: ProjectKeyService,
    private readonly publisher: MessagePublisher,
    private readonly metrics: MetricsService,
  ) {}

  @OnMessage(VolumeRestore)
  async restore(job: VolumeRestoreJob, context?: MessageContext): Promise<void> {
    const target = insideDataDir(this.config.host.dataDir, job.targetPath);
    if (this.running.has(target)) throw new Error(`a restore into ${target} is already running in this process`);
    this.running.add(target);
    try {
      await this.restoreInto(job, new PartialRestore(target), context?.finalAttempt === true);
    } finally {
      this.running.delete(target);
    }
  }

  /** `finalAttempt`: no retry follows a failure, so the partial image would only take space: it goes too. */
  private async restoreInto(job: VolumeRestoreJob, partial: PartialRestore, finalAttempt: boolean): Promise<void> {
    try {
      if (existsSync(partial.target) && (await hasSnapshotNamed(partial.target, job.pointInTime))) {
        await partial.record.remove(); // left if the worker died between the rename and the record's removal
        return await this.done(job, partial.target, 0, 0); // a redelivery after the work finished
      }
      const { bytes, blocks } = await this.fill(job, partial);
      await this.done(job, partial.target, bytes, blocks);
    } catch (error) {
      // an image another writer holds (a redelivered copy of this job) is its work in progress, never ours to remove
      const ours = !(error instanceof ImageLockedError);
      if (ours && (isPermanentFailure(error) || finalAttempt))
        await partial.discard().catch((e: Error) => this.logger.warn(`could not remove ${partial.imagePath}: ${e.message}`));
      throw error;
    }
  }

  private async fill(job: VolumeRestoreJob, partial: PartialRestore): Promise<{ bytes: number; blocks: number }> {
    const store = await this.stores.store(job.region);
    const keys = await this.projectKeys.keysFor(job.projectId);
    const manifest = await store.readManifest(job.manifestObject, keys, job.manifestSealed);
    try {
      await injectedDelay('restore.after-manifest');
      const { header } = manifest;
      if (header.volumeSize > job.sizeBytes)
        throw new Qcow2Error(`manifest ${job.manifestObject} is ${header.volumeSize} bytes, larger than the volume (${job.sizeBytes})`);
      const identity = restoreIdentity(job, manifest);
      await mkdir(dirname(partial.target), { recursive: true });
      const opened = await partial.open(identity);
      this.reportOpened(job, opened, header.entryCount);
      const { image, written } = opened;
      const bytesToWrite = (header.entryCount - written.count) * header.blockSize; // at most: the last block may be short
      await assertRoomFor(dirname(partial.target), bytesToWrite, `restoring volume ${job.volumeId} on ${job.host}`).catch(async (error: unknown) => {
        await image.close();
        throw error;
      });
      const checkpoints = new RestoreCheckpoints(image, partial.record, identity, written);
      const lent = new LentBlocks(blockBuffers);
      const writer = new RestoreWriter(image, header.blockSize, AHEAD, checkpoints, (data) => lent.releaseWrite(data));
      const plan = new RestorePlan(manifest, written);
      const entriesBefore = written.count;
      try {
        await this.fetchInto(writer, lent, store, keys, plan, header.blockSize, (done) =>
          this.publisher.publish(OperationProgress, {
            operationId: job.operationId,
            resourceId: job.volumeId,
            done: entriesBefore + done,
            total: header.entryCount,
          }),
        );
        await writer.finish();
        await checkpoints.checkpoint(); // every block recorded: from here on a crash leaves only the point in time and the rename
        if (!opened.hasPointInTime) await createSnapshot(image, job.pointInTime);
      } catch (error) {
        if (!isPermanentFailure(error)) await recordForRetry(writer, checkpoints);
        throw error;
      } finally {
        await writer.finish().catch(() => undefined); // never close under a write in flight
        lent.releaseReservations();
        await image.close();
      }
      await partial.moveIntoPlace();
      this.metrics.counter('island_worker_bytes_restored_total', 'Guest bytes written by restores').inc(writer.bytesWritten);
      this.metrics
        .counter(
          'island_worker_bytes_restored_direct_total',
          'Guest bytes restores wrote past the page cache (O_DIRECT); the rest of island_worker_bytes_restored_total went through it or, whole clusters of zeros, was marked zero instead of written',
        )
        .inc(image.directBytesWritten);
      return { bytes: plan.guestBytes, blocks: header.entryCount };
    } finally {
      manifest.close();
    }
  }

  /**
   * Fetches blocks in parallel as the manifest streams in and hands them to the writer; fetchers run ahead of it by at
   * most AHEAD queued blocks (plus the batch being written), so memory stays bounded — by neither the volume's size nor
   * its number of distinct blocks — while the network never waits for the disk. A block repeated within the last
   * RECENT distinct blocks (RESTORE_RECENT_BYTES at most) is fetched once. Every fetcher has stopped when this returns
   * or throws, so none hands the writer a block afterwards. Blocks arrive in memory lent from blockBuffers, reserved first from the process's
   * blockMemory; `lent` releases its reservation once no queued write holds it, and gives it back once the recent
   * blocks do not either.
   */
  private async fetchInto(
    writer: RestoreWriter,
    lent: LentBlocks,
    store: SwiftBlockStore,
    keys: ProjectKeys | undefined,
    plan: RestorePlan,
    blockSize: number,
    progress: (done: number) => Promise<void>,
  ): Promise<void> {
    const restored = this.blocksRestored();
    const recent = new RecentBlocks(Math.max(1, Math.min(RECENT, Math.floor(RESTORE_RECENT_BYTES / blockSize))), (block) => lent.release(block));
    const entries = plan.toFetch();
    let stopped = false;
    let lastProgress = Date.now();
    const fetcher = async () => {
      try {
        while (!stopped) {
          const next = await entries.next();
          if (next.done) return;
          const { ordinal, index, hash } = next.value;
          const data = await recent.get(hash, async () => {
            const memory = await blockMemory.reserve(blockSize);
            const fetched = await store.getBlock(hash, keys, { lent: true }).catch((error: unknown) => {
              memory.release();
              throw error;
            });
            lent.hold(fetched); // the recent blocks' hold
            lent.reservedFor(fetched, memory);
            restored.inc({ how: 'fetched' });
            return fetched;
          });
          lent.holdForWrite(data); // this write's, taken before the recent blocks can let go of it (RecentBlocks.drop)
          await writer.add(ordinal, [index], data);
          if (Date.now() - lastProgress >= PROGRESS_MS) {
            lastProgress = Date.now();
            await progress(writer.entriesWritten);
          }
        }
      } catch (error) {
        stopped = true; // the other fetchers stop after the block they are fetching
        throw error;
      }
    };
    const results = await Promise.allSettled(Array.from({ length: GET_CONCURRENCY }, fetcher));
    recent.clear();
    await entries.return(undefined);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  private reportOpened(job: VolumeRestoreJob, opened: OpenedPartial, entries: number): void {
    if (opened.resumed) {
      const leaks = opened.leaksReleased > 0 ? ` (${opened.leaksReleased} clusters a crash leaked were released)` : '';
      this.logger.log(`restore of volume ${job.volumeId} resumes its partial image: ${opened.written.count} of ${entries} blocks are in it${leaks}`);
      this.blocksRestored().inc({ how: 'resumed' }, opened.written.count);
    } else if (opened.startedOverBecause) {
      this.logger.warn(`restore of volume ${job.volumeId} starts over: ${opened.startedOverBecause}`);
    }
  }

  private blocksRestored() {
    return this.metrics.counter('island_worker_restore_blocks_total', 'Blocks restored, by how: fetched from Swift or resumed from a partial image', ['how']);
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

/** Before a retry: the blocks fetched so far are written, then recorded, so that the retry fetches none of them again. */
async function recordForRetry(writer: RestoreWriter, checkpoints: RestoreCheckpoints): Promise<void> {
  try {
    await writer.finish();
    await checkpoints.checkpoint();
  } catch {
    // the retry resumes from the last checkpoint instead
  }
}
