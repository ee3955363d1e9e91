import { Injectable, Logger } from '@nestjs/common';
import { BlockEncoderPool, objectNames, ProjectKeyService, RegionStores } from '@island/blockstore';
import { BLOCK_RECOVER_REPLY, BlockRecover, BlockRecoverJob } from '@island/contracts';
import { MessageContext, MessagePublisher, OnMessage } from '@island/messaging';
import { IslandConfig } from '@island/config';
import { InjectConfig, MetricsService } from '@island/platform';
import { openPointInTime } from './point-in-time-image';

/**
 * Puts a lost block back from a volume of this host (the scrub's request, when no other region has a whole copy):
 * reads it from the volume's point in time — immutable, so safe beside the storage daemon's writes — names it under
 * the project's key and, only when that is the lost block's name, seals it and writes it over what Swift holds.
 * The answer is the stored size, or why not; never retried (the scrub asks the next volume, or marks the block damaged).
 */
@Injectable()
export class BlockRecoverJobs {
  private readonly logger = new Logger('BlockRecover');
  private readonly encoders = new BlockEncoderPool();

  constructor(
    @InjectConfig() private readonly config: IslandConfig,
    private readonly stores: RegionStores,
    private readonly projectKeys: ProjectKeyService,
    private readonly publisher: MessagePublisher,
    private readonly metrics: MetricsService,
  ) {}

  @OnMessage(BlockRecover)
  async recover(job: BlockRecoverJob, context: MessageContext): Promise<void> {
    let storedSize: number;
    try {
      storedSize = await this.recoverFromVolume(job);
    } catch (error) {
      const reason = `volume ${job.volumeId} on ${job.host}: ${(error as Error).message}`;
      this.logger.warn(`block ${job.name} not recovered from ${reason}`);
      await this.publisher.reply(context, Buffer.alloc(0), { [BLOCK_RECOVER_REPLY.error]: reason });
      return;
    }
    this.metrics.counter('island_worker_blocks_recovered_total', 'Lost blocks put back from a volume of this host').inc();
    this.logger.log(`block ${job.name} put back in ${job.region} from volume ${job.volumeId} (block ${job.blockIndex})`);
    await this.publisher.reply(context, Buffer.alloc(0), { [BLOCK_RECOVER_REPLY.storedSize]: storedSize });
  }

  private async recoverFromVolume(job: BlockRecoverJob): Promise<number> {
    const { image, view } = await openPointInTime(this.config.host.dataDir, job.path, job.pointInTime);
    let content: Buffer;
    try {
      const offset = job.blockIndex * job.blockSize;
      if (offset >= view.size) throw new Error(`block ${job.blockIndex} is past the end of point in time ${job.pointInTime}`);
      content = await image.readView(view, offset, Math.min(job.blockSize, view.size - offset));
    } finally {
      await image.close();
    }
    const keys = await this.projectKeys.keysForWriting(job.projectId, job.region);
    const name = keys.blockName(content);
    if (name.toString('hex') !== job.name) {
      throw new Error(`block ${job.blockIndex} of point in time ${job.pointInTime} holds other bytes now (${name.toString('hex')})`);
    }
    const encoded = this.encoders.with((encoder) => encoder.encodeSealed(content, keys, objectNames.block, name));
    const store = await this.stores.store(job.region);
    return store.replaceBlock(encoded, keys);
  }
}
