import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { Manifest, ProjectKeyService, RegionStores, SwiftBlockStore } from '@island/blockstore';
import { Catalog, SnapshotNotUploadingError } from '@island/catalog';
import { SnapshotCopy, SnapshotCopyJob, SnapshotCopyProgressed, SnapshotCopyTransferred } from '@island/contracts';
import { MessagePublisher, OnMessage, PermanentMessageError } from '@island/messaging';
import { forEachBounded, injectedDelay, MetricsService } from '@island/platform';
import { claimAfterGcDeletes } from './claims-after-gc';

/** Distinct blocks claimed and moved together; a progress event follows each batch. */
const BATCH = 64;
/** Objects moving between the regions at once. */
const TRANSFER_CONCURRENCY = 12;
/** Rows of the block map staged per statement. */
const STAGE_ROWS = 20_000;

/** A distinct block to copy: its name and its guest length (what a claim records). */
interface CopyBlock {
  hash: Buffer;
  size: number;
}

/** Distinct blocks claimed and moved together, numbered in the manifest's order (the same in every attempt). */
interface CopyBatch {
  index: number;
  blocks: CopyBlock[];
  blocksTotal: number;
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
    const manifest = await source.getManifest(job.sourceManifest, keys, job.sourceManifestSealed);
    if (manifest.blockSize !== job.blockSize || manifest.volumeSize !== job.sizeBytes) {
      throw new PermanentMessageError(
        `manifest ${job.sourceManifest} describes ${manifest.volumeSize} bytes in ${manifest.blockSize}-byte blocks, the snapshot ${job.sizeBytes} in ${job.blockSize}`,
      );
    }
    const resumed = await this.stage(job.snapshotId, manifest);
    const blocks: CopyBlock[] = manifest.distinctBlocks().map((b) => ({ hash: b.hash, size: b.length }));
    const batches: CopyBlock[][] = [];
    for (let i = 0; i < blocks.length; i += BATCH) batches.push(blocks.slice(i, i + BATCH));
    const inFlight: Promise<void>[] = [];
    try {
      for (const [index, batch] of batches.entries()) {
        const work = this.copyBatch(job, source, target, { index, blocks: batch, blocksTotal: blocks.length }, resumed);
        work.catch(() => undefined); // awaited below
        inFlight.push(work);
        if (inFlight.length >= 2) await inFlight.shift();
      }
      await Promise.all(inFlight);
    } catch (error) {
      if (!(error instanceof SnapshotNotUploadingError)) throw error;
      this.logger.log(`copy ${job.snapshotId} stopped: ${error.message}`);
      return;
    }
    await this.publisher.publish(SnapshotCopyTransferred, {
      snapshotId: job.snapshotId,
      entries: manifest.entryCount,
      distinctBlocks: blocks.length,
      batches: batches.length,
    });
  }

  /** Stages the block map (idempotent); true when an earlier attempt had staged it already. */
  private async stage(snapshotId: string, manifest: Manifest): Promise<boolean> {
    const uploads = this.catalog().uploads;
    const staged = await uploads.countStaged(snapshotId);
    if (staged === manifest.entryCount) return true;
    let indexes: number[] = [];
    let hashes: Buffer[] = [];
    const flush = async () => {
      await uploads.stageChanges(snapshotId, indexes, hashes);
      indexes = [];
      hashes = [];
    };
    for (const entry of manifest.entries()) {
      indexes.push(entry.index);
      hashes.push(entry.hash);
      if (indexes.length === STAGE_ROWS) await flush();
    }
    if (indexes.length > 0) await flush();
    return staged > 0;
  }

  private async copyBatch(job: SnapshotCopyJob, source: SwiftBlockStore, target: SwiftBlockStore, batch: CopyBatch, resumed: boolean): Promise<void> {
    const claim = await claimAfterGcDeletes(
      () => this.dataSource.transaction((m) => new Catalog(m).ledger.claim(job.snapshotId, job.region, batch.blocks)),
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
      const { data, md5 } = await source.readBlockObject(hash);
      // sent either way: 'already-present' is a retried PUT of ours whose first reply was lost, or a concurrent uploader's
      await target.putBlockObject(hash, data, md5);
      bytesCopied += data.length;
      blocksCopied += 1;
      present.push({ hash, storedSize: data.length });
    });
    await injectedDelay('copy.before-present');
    await this.dataSource.transaction((m) => new Catalog(m).ledger.markPresent(job.region, present));
    this.metrics.counter('island_worker_copy_bytes_total', 'Bytes of block objects copied between regions').inc(bytesCopied);
    // the worker reports, the API counts: each batch once, and the copy commits only when every batch is counted
    await this.publisher.publish(SnapshotCopyProgressed, {
      snapshotId: job.snapshotId,
      batch: batch.index,
      blocksTotal: batch.blocksTotal,
      blocks: batch.blocks.length,
      blocksCopied,
      bytesCopied,
    });
  }

  private catalog(): Catalog {
    return new Catalog(this.dataSource.manager);
  }
}
