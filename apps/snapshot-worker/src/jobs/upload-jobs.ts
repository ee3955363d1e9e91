import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import {
  blockBuffers,
  BlockEncoderPool,
  blockMemory,
  EncodedBlock,
  md5Many,
  objectNames,
  ProjectKeys,
  ProjectKeyService,
  RegionStores,
  SwiftBlockStore,
} from '@island/blockstore';
import { claimBlocks, markBlocksPresent, SnapshotNotUploadingError } from '@island/catalog';
import { IslandConfig } from '@island/config';
import { PartBlock, SnapshotPartUploaded, SnapshotUploadPart, SnapshotUploadPartJob } from '@island/contracts';
import { MessagePublisher, OnMessage } from '@island/messaging';
import { forEachBounded, injectedDelay, InjectConfig, MetricsService } from '@island/platform';
import { isAllZero, Qcow2Image, View } from '@island/qcow2';
import { claimAfterGcDeletes } from './claims-after-gc';
import { openPointInTime } from './point-in-time-image';
import { growingBatches } from './upload-batches';

const PUT_CONCURRENCY = 8;

/** One part being uploaded: what its batches share. */
interface PartUpload {
  job: SnapshotUploadPartJob;
  image: Qcow2Image;
  view: View;
  store: SwiftBlockStore;
  /** The project's keys: they name each block (keyed hash) and seal it. */
  keys: ProjectKeys;
  totals: PartTotals;
  /**
   * Hashes of the blocks this part's batches send. Batches overlap, so a later batch holding the same content
   * may find the block still `uploading`; it leaves it to the batch sending it (the part reports only once
   * every batch is done, and fails if that one does).
   */
  sending: Set<string>;
}

interface PartTotals {
  bytesRead: number;
  bytesUploaded: number;
  bytesStored: number;
  blocksUploaded: number;
  blocksReused: number;
}

/**
 * Uploads one part of a snapshot: each block is read from the immutable point in time, skipped when all
 * zero, named by the project's keyed hash of its content, claimed in the catalog (so GC cannot delete it meanwhile;
 * a block GC is deleting right now is claimed once that delete is over), and sealed and PUT write-once only when
 * Swift does not have it yet. Names are per project, so dedup never crosses projects.
 */
@Injectable()
export class UploadJobs {
  private readonly logger = new Logger('UploadPart');
  private readonly encoders = new BlockEncoderPool();

  constructor(
    @InjectConfig() private readonly config: IslandConfig,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly stores: RegionStores,
    private readonly projectKeys: ProjectKeyService,
    private readonly publisher: MessagePublisher,
    private readonly metrics: MetricsService,
  ) {}

  @OnMessage(SnapshotUploadPart)
  async uploadPart(job: SnapshotUploadPartJob): Promise<void> {
    const { image, view } = await openPointInTime(this.config.host.dataDir, job.path, job.pointInTime);
    try {
      const store = await this.stores.store(job.region);
      const keys = await this.projectKeys.keysForWriting(job.projectId, job.region);
      const totals: PartTotals = { bytesRead: 0, bytesUploaded: 0, bytesStored: 0, blocksUploaded: 0, blocksReused: 0 };
      const part: PartUpload = { job, image, view, store, keys, totals, sending: new Set() };
      const reported: PartBlock[] = [];
      // two batches in flight: one is read and hashed while the other's blocks are being PUT
      const batches = growingBatches(job.blocks, job.blockSize);
      const results: PartBlock[][] = [];
      const inFlight: Promise<void>[] = [];
      for (const [k, batch] of batches.entries()) {
        const work = this.uploadBatch(part, batch).then((r) => {
          results[k] = r;
        });
        work.catch(() => undefined); // awaited below
        inFlight.push(work);
        if (inFlight.length >= 2) await inFlight.shift();
      }
      try {
        await Promise.all(inFlight);
      } catch (error) {
        if (!(error instanceof SnapshotNotUploadingError)) throw error;
        this.logger.log(`part ${job.partIndex} dropped: ${error.message}`);
        return;
      }
      reported.push(...results.flat());
      this.metrics.counter('island_worker_bytes_uploaded_total', 'Bytes of encoded blocks PUT to Swift').inc(totals.bytesUploaded);
      this.metrics.counter('island_worker_blocks_reused_total', 'Blocks not uploaded because Swift had them').inc(totals.blocksReused);
      await this.publisher.publish(SnapshotPartUploaded, { host: job.host, snapshotId: job.snapshotId, partIndex: job.partIndex, blocks: reported, ...totals });
    } finally {
      await image.close();
    }
  }

  /** A batch holds up to a block's memory for each of its blocks until its PUTs are over: reserved first (blockMemory). */
  private async uploadBatch(part: PartUpload, batch: number[]): Promise<PartBlock[]> {
    const memory = await blockMemory.reserve(batch.length * part.job.blockSize);
    try {
      return await this.readAndSend(part, batch);
    } finally {
      memory.release();
    }
  }

  private async readAndSend(part: PartUpload, batch: number[]): Promise<PartBlock[]> {
    const { job, image, view, totals } = part;
    const read = [];
    for (const index of batch) {
      const offset = index * job.blockSize;
      const data = blockBuffers.take(Math.min(job.blockSize, view.size - offset));
      await image.readInto(view, offset, data);
      totals.bytesRead += data.length;
      read.push({ index, data, hash: isAllZero(data) ? null : part.keys.blockName(data) });
    }
    const stored = read.filter((b): b is { index: number; data: Buffer; hash: Buffer } => b.hash !== null);
    const claim = await claimAfterGcDeletes(
      () =>
        claimBlocks(
          this.dataSource.manager,
          job.snapshotId,
          job.region,
          stored.map((b) => ({ hash: b.hash, size: b.data.length })),
        ),
      `part ${job.partIndex} of snapshot ${job.snapshotId}`,
      this.logger,
      this.metrics,
    );
    await injectedDelay('worker.after-claim');
    const toUpload = new Set(claim.upload.map((h) => h.toString('hex')));
    const uploads = [...new Map(stored.filter((b) => toUpload.has(b.hash.toString('hex'))).map((b) => [b.hash.toString('hex'), b])).values()];
    // registered before any PUT starts, so an overlapping batch of this part never sends one of them again
    const mine = uploads.filter((b) => !part.sending.has(b.hash.toString('hex')));
    for (const b of mine) part.sending.add(b.hash.toString('hex'));
    const sent = new Set<Buffer>(mine.map((b) => b.data));
    for (const b of read) if (!sent.has(b.data)) blockBuffers.giveBack(b.data); // zero, already held, or sent by another batch
    const sealed = this.seal(part, mine);
    const md5s = md5Many.hex(sealed.map((block) => block.object));
    const present: { hash: Buffer; storedSize: number }[] = [];
    await forEachBounded(sealed, PUT_CONCURRENCY, async (block, i) => {
      present.push({ hash: block.hash, storedSize: await this.put(part, block, md5s[i]) });
    });
    await injectedDelay('worker.before-present');
    await markBlocksPresent(this.dataSource.manager, job.region, present);
    totals.blocksReused += stored.length - mine.length;
    return read.map((b) => ({ index: b.index, hash: b.hash ? b.hash.toString('hex') : null }));
  }

  /**
   * Seals the blocks to send, their plain memory given back as each is sealed: all of them before any PUT, so that
   * their MD5s are computed together (md5Many), several times cheaper than one by one.
   */
  private seal(part: PartUpload, blocks: { data: Buffer; hash: Buffer }[]): EncodedBlock[] {
    return this.encoders.with((encoder) =>
      blocks.map((b) => {
        const encoded = encoder.encodeSealed(b.data, part.keys, objectNames.block, b.hash, blockBuffers);
        blockBuffers.giveBack(b.data); // what is sent is the sealed copy
        return encoded;
      }),
    );
  }

  /** PUTs one sealed block (write-once) with its MD5; returns the size of the object Swift holds for it. */
  private async put(part: PartUpload, encoded: EncodedBlock, md5: string): Promise<number> {
    const outcome = await part.store.putBlock(encoded, md5);
    if (outcome === 'stored') {
      encoded.release(); // Swift read every byte to check the MD5: none is still being sent (else: left to the collector)
      part.totals.bytesUploaded += encoded.object.length;
      part.totals.bytesStored += encoded.object.length;
      part.totals.blocksUploaded += 1;
    } else {
      part.totals.blocksReused += 1;
    }
    return encoded.object.length;
  }
}
