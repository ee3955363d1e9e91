import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { blockBuffers, blockLength, blockMemory, ManifestReader, ProjectKeyService, RegionStores, SwiftBlockStore } from '@island/blockstore';
import { Catalog, SnapshotNotUploadingError } from '@island/catalog';
import { SnapshotCopy, SnapshotCopyJob, SnapshotCopyProgressed, SnapshotCopyTransferred } from '@island/contracts';
import { MessagePublisher, OnMessage, PermanentMessageError } from '@island/messaging';
import { forEachBounded, injectedDelay, MetricsService } from '@island/platform';
import { claimAfterGcDeletes } from './claims-after-gc';

/** Distinct blocks claimed and moved together; a progress event follows each batch. */
const BATCH = 64;
/** Manifest entries a batch covers at most (a block repeated many times makes batches of few distinct blocks). */
const MAX_BATCH_ENTRIES = 16_384;
/** Objects moving between the regions at once. */
const TRANSFER_CONCURRENCY = 12;

/** A distinct block to copy: its name and its guest length (what a claim records). */
interface CopyBlock {
  hash: Buffer;
  size: number;
}

/** Blocks claimed and moved together, numbered in the manifest's order (the same in every attempt). */
interface CopyBatch {
  index: number;
  /** Distinct within the batch; a block repeated in another batch is claimed (idempotent) and found present there. */
  blocks: CopyBlock[];
  /** Manifest entries the batch covers, and the manifest's total: what progress counts. */
  entries: number;
  entriesTotal: number;
}

/**
 * Copies a snapshot into another region by name: reads the source manifest, stages its block map for the
 * commit, claims every distinct block in the target region (so its GC keeps them) and moves only those the
 * target lacks, each object unchanged with the MD5 it was read with: sealed blocks move as ciphertext, never opened
 * (their name, the authenticated data, is the same in every region). A redelivered job starts over and
 * finds what arrived already present; blocks a killed attempt may have PUT without recording are looked
 * up (HEAD) instead of sent again.
 */
@Injectable()
export class CopyJobs {
  private readonly logger = new Logger('CopySnapshot');

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly stores: RegionStores,
    private readonly projectKeys: ProjectKeyService,
    private readonly publisher: MessagePublisher,
    private readonly metrics: MetricsService,
  ) {}

  @OnMessage(SnapshotCopy)
  async copy(job: SnapshotCopyJob): Promise<void> {
    const copy = await this.catalog().snapshots.find(job.snapshotId);
    if (copy?.status !== 'uploading') return; // done, failed or deleted meanwhile
    const source = await this.stores.store(job.sourceRegion);
    const target = await this.stores.store(job.region);
    // the project's wrapped key goes to the target region first: its Swift and the KEK alone open what arrives
    const keys = await this.projectKeys.keysForWriting(job.projectId, job.region);
    // a missing or corrupt source manifest is a permanent failure: the copy fails with its reason
    const manifest = await source.readManifest(job.sourceManifest, keys, job.sourceManifestSealed);
    try {
      const { header } = manifest;
      if (header.blockSize !== job.blockSize || header.volumeSize !== job.sizeBytes) {
        throw new PermanentMessageError(
          `manifest ${job.sourceManifest} describes ${header.volumeSize} bytes in ${header.blockSize}-byte blocks, the snapshot ${job.sizeBytes} in ${job.blockSize}`,
        );
      }
      const batches = await this.transfer(job, source, target, manifest);
      if (batches === 'stopped') return;
      await this.publisher.publish(SnapshotCopyTransferred, {
        snapshotId: job.snapshotId,
        entries: header.entryCount,
        distinctBlocks: await this.catalog().uploads.countStagedDistinct(job.snapshotId),
        batches,
      });
    } finally {
      manifest.close();
    }
  }

  /**
   * One pass over the source manifest as it streams in: stages its block map (unless an earlier attempt staged all of
   * it) and moves its blocks in batches, two at a time. Returns how many batches there were, or 'stopped' when the copy
   * stopped uploading meanwhile (failed, deleted).
   */
  private async transfer(job: SnapshotCopyJob, source: SwiftBlockStore, target: SwiftBlockStore, manifest: ManifestReader): Promise<number | 'stopped'> {
    const uploads = this.catalog().uploads;
    const staged = await uploads.countStaged(job.snapshotId);
    const resumed = staged > 0;
    const { header } = manifest;
    const inFlight: Promise<void>[] = [];
    let batches = 0;
    const send = async (blocks: CopyBlock[], entries: number) => {
      const work = this.copyBatch(job, source, target, { index: batches++, blocks, entries, entriesTotal: header.entryCount }, resumed);
      work.catch(() => undefined); // awaited below
      inFlight.push(work);
      if (inFlight.length >= 2) await inFlight.shift();
    };
    try {
      let batch = new Map<string, CopyBlock>();
      let entries = 0;
      let previous: Buffer | undefined; // the last entry's name, while it is in this batch
      let pageNumber = 0;
      for await (const page of manifest.batches()) {
        // a page is staged as its own batch: a resumed copy reads the same pages and stores none of them twice
        if (staged < header.entryCount)
          await uploads.stageChanges(
            job.snapshotId,
            pageNumber,
            page.map((e) => e.index),
            page.map((e) => e.hash),
          );
        pageNumber++;
        for (const { index, hash } of page) {
          // a block repeated over a run of entries is keyed once, not once an entry
          if (!previous?.equals(hash)) batch.set(hash.toString('hex'), { hash, size: blockLength(header, index) });
          previous = hash;
          entries++;
          if (batch.size === BATCH || entries === MAX_BATCH_ENTRIES) {
            await send([...batch.values()], entries);
            batch = new Map();
            entries = 0;
            previous = undefined;
          }
        }
      }
      if (entries > 0) await send([...batch.values()], entries);
      await Promise.all(inFlight);
    } catch (error) {
      await Promise.allSettled(inFlight);
      if (!(error instanceof SnapshotNotUploadingError)) throw error;
      this.logger.log(`copy ${job.snapshotId} stopped: ${error.message}`);
      return 'stopped';
    }
    return batches;
  }

  private async copyBatch(job: SnapshotCopyJob, source: SwiftBlockStore, target: SwiftBlockStore, batch: CopyBatch, resumed: boolean): Promise<void> {
    const claim = await claimAfterGcDeletes(
      () => this.catalog().ledger.claim(job.snapshotId, job.region, batch.blocks),
      `copy ${job.snapshotId}, batch ${batch.index}`,
      this.logger,
      this.metrics,
    );
    const present: { hash: Buffer; storedSize: number }[] = [];
    let bytesCopied = 0;
    let blocksCopied = 0;
    await forEachBounded(claim.upload, TRANSFER_CONCURRENCY, async (hash) => {
      // a killed attempt may have stored it without recording it: look before sending it again
      const already = resumed ? await target.blockObjectSize(hash) : undefined;
      if (already !== undefined) {
        present.push({ hash, storedSize: already });
        return;
      }
      const memory = await blockMemory.reserve(job.blockSize);
      try {
        const { data, md5 } = await source.readBlockObject(hash);
        // sent either way: 'already-present' is a retried PUT of ours whose first reply was lost, or a concurrent uploader's
        const outcome = await target.putBlockObject(hash, data, md5);
        bytesCopied += data.length;
        blocksCopied += 1;
        present.push({ hash, storedSize: data.length });
        if (outcome === 'stored') blockBuffers.giveBack(data); // Swift checked every byte against the MD5: none is still being sent
      } finally {
        memory.release();
      }
    });
    await injectedDelay('copy.before-present');
    await this.catalog().ledger.markPresent(job.region, present);
    this.metrics.counter('island_worker_copy_bytes_total', 'Bytes of block objects copied between regions').inc(bytesCopied);
    // the worker reports, the API counts: each batch once, and the copy commits only when every batch is counted
    await this.publisher.publish(SnapshotCopyProgressed, {
      snapshotId: job.snapshotId,
      batch: batch.index,
      blocksTotal: batch.entriesTotal,
      blocks: batch.entries,
      blocksCopied,
      bytesCopied,
    });
  }

  private catalog(): Catalog {
    return new Catalog(this.dataSource.manager);
  }
}
