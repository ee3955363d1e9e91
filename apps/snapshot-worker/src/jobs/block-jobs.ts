import { Injectable, Logger } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { ProjectKeyService, RegionStores } from '@island/blockstore';
import { BLOCK_READ_REPLY, BlockRead, BlockReadJob } from '@island/contracts';
import { MessageContext, MessagePublisher, OnMessage } from '@island/messaging';
import { MetricsService } from '@island/platform';

/**
 * Answers the API's block reads (`GET /v1/snapshots/{id}/blocks/{index}`; the API holds no keys): the block from
 * Swift, authenticated and verified against its name under its project's keys by the block store, as a restore reads
 * it, answered with its SHA-256. A failure is answered too (the reason), never retried: the caller is waiting.
 */
@Injectable()
export class BlockJobs {
  private readonly logger = new Logger('BlockRead');

  constructor(
    private readonly stores: RegionStores,
    private readonly projectKeys: ProjectKeyService,
    private readonly publisher: MessagePublisher,
    private readonly metrics: MetricsService,
  ) {}

  @OnMessage(BlockRead)
  async read(job: BlockReadJob, context: MessageContext): Promise<void> {
    let data: Buffer;
    try {
      const store = await this.stores.store(job.region);
      const keys = await this.projectKeys.keysFor(job.projectId);
      const block = await store.getBlock(Buffer.from(job.name, 'hex'), keys);
      data = fitted(block, job.length);
    } catch (error) {
      const reason = `block ${job.name} in ${job.region} could not be read: ${(error as Error).message}`;
      this.logger.warn(reason);
      await this.publisher.reply(context, Buffer.alloc(0), { [BLOCK_READ_REPLY.error]: reason });
      return;
    }
    this.metrics.counter('island_worker_blocks_read_total', 'Blocks read for the API (block reads, exports)').inc();
    await this.publisher.reply(context, data, { [BLOCK_READ_REPLY.sha256]: createHash('sha256').update(data).digest('hex') });
  }
}

/** A block is stored whole; the volume's last one answers only the bytes inside the volume (zeros beyond a short one). */
function fitted(block: Buffer, length: number): Buffer {
  if (block.length === length) return block;
  if (block.length > length) return block.subarray(0, length);
  return Buffer.concat([block, Buffer.alloc(length - block.length)]);
}
