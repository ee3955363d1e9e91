import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { CorruptObjectError, ProjectKeys, RegionStores, SwiftBlockStore } from '@island/blockstore';
import { BlockHolder, markBlockDamaged, markBlockWhole, PresentBlock, volumesHoldingBlock } from '@island/catalog';
import { IslandConfig } from '@island/config';
import { BLOCK_RECOVER_REPLY, BlockRecover } from '@island/contracts';
import { MessageRequester } from '@island/messaging';
import { InjectConfig, MetricsService } from '@island/platform';
import { SwiftNotFoundError } from '@island/swift';
import { ByteRateLimiter } from './byte-rate-limiter';

/** What reading a block found: whole, or missing or corrupt in Swift (with what was wrong). */
export type BlockCheck = { problem: undefined } | { problem: 'missing' | 'corrupt'; detail: string };

/**
 * What mending a lost block did: repaired from another region's copy or from a volume that still holds it (`repairedFrom`
 * names which), or marked damaged (false: GC took it meanwhile).
 */
export type BlockMend = { repairedFrom: string } | { repairedFrom: undefined; marked: boolean; reason: string };

/** Longest part of an error kept in a damage reason. */
const DETAIL_CHARS = 200;
/** Volumes asked, one after another, to put a lost block back before it is marked damaged. */
const VOLUMES_ASKED = 3;
/** How long a host's worker has to answer (its queue may hold an upload part ahead of the request). */
const RECOVER_TIMEOUT_MS = 60_000;

/**
 * Scrubbing one block, shared by the scheduled scrub and `fsck --deep`: reads and authenticates it (paced by a rate
 * limiter), and mends a lost one — from another region's copy of the same object (blocks are copied between
 * regions object for object, under the same name and project key), else from a volume whose point in time on its
 * host still holds the bytes (that host's worker reads, names and writes them), or else by marking it damaged: `uploading`
 * again (an upload of the same bytes writes it anew) with the reason, its corrupt object deleted so that the
 * write-once PUT of that upload can store it; the snapshots that need it are marked by refreshSnapshotDamage.
 */
@Injectable()
export class BlockScrubber {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @InjectConfig() private readonly config: IslandConfig,
    private readonly stores: RegionStores,
    private readonly metrics: MetricsService,
    private readonly requester: MessageRequester,
  ) {}

  /** Reads and authenticates a block under its project's keys (undefined for a plain block). */
  async check(
    region: string,
    store: SwiftBlockStore,
    block: PresentBlock,
    keys: ProjectKeys | undefined,
    limiter: ByteRateLimiter,
    signal?: AbortSignal,
  ): Promise<BlockCheck> {
    const bytes = block.storedSize > 0 ? block.storedSize : this.config.blocks.size;
    await limiter.take(bytes, signal);
    this.metrics.counter('island_scrub_bytes_read_total', 'Bytes of blocks read from Swift by scrubs and deep fsck', ['region']).inc({ region }, bytes);
    this.metrics.counter('island_scrub_blocks_checked_total', 'Blocks read and authenticated by scrubs and deep fsck', ['region']).inc({ region });
    try {
      await store.checkBlock(block.hash, keys);
      return { problem: undefined };
    } catch (error) {
      if (error instanceof SwiftNotFoundError) return { problem: 'missing', detail: 'the object is not in Swift' };
      if (error instanceof CorruptObjectError) return { problem: 'corrupt', detail: error.problem };
      throw error;
    }
  }

  /**
   * Repairs a missing or corrupt block from the first other region whose copy authenticates, else from the first
   * volume that still holds it, or marks it damaged.
   * A block already marked and now whole again is unmarked.
   */
  async mend(
    region: string,
    store: SwiftBlockStore,
    block: PresentBlock,
    keys: ProjectKeys | undefined,
    found: Exclude<BlockCheck, { problem: undefined }>,
  ): Promise<BlockMend> {
    const hash = block.hash.toString('hex');
    const tried: string[] = [];
    for (const other of this.config.regions.filter((r) => r.name !== region)) {
      try {
        const bytes = await store.repairBlockFrom(await this.stores.store(other.name), block.hash, keys);
        if (block.damagedReason !== null) await markBlockWhole(this.dataSource.manager, region, block.hash, bytes);
        this.countRepair(region, other.name);
        return { repairedFrom: other.name };
      } catch (error) {
        tried.push(`${other.name}: ${error instanceof SwiftNotFoundError ? 'absent' : short((error as Error).message)}`);
      }
    }
    const holders = block.projectId ? await volumesHoldingBlock(this.dataSource.manager, block.projectId, block.hash, VOLUMES_ASKED) : [];
    for (const holder of holders) {
      try {
        const bytes = await this.recoverFromVolume(region, block, holder);
        if (block.damagedReason !== null) await markBlockWhole(this.dataSource.manager, region, block.hash, bytes);
        this.countRepair(region, 'volume');
        return { repairedFrom: `volume ${holder.volumeId} on ${holder.host}` };
      } catch (error) {
        tried.push(`volume ${holder.volumeId}: ${short((error as Error).message)}`);
      }
    }
    const reason = `block ${hash} ${found.problem} in ${region} (${short(found.detail)}); ${
      tried.length === 0 ? 'no other region or volume to repair it from' : `no whole copy elsewhere (${tried.join('; ')})`
    }`;
    const marked = await markBlockDamaged(this.dataSource.manager, region, block.hash, reason);
    if (marked && found.problem === 'corrupt') await store.deleteBlock(block.hash);
    if (marked && block.damagedReason === null) {
      this.metrics.counter('island_scrub_blocks_damaged_total', 'Blocks found lost and marked damaged by scrubs and fsck', ['region']).inc({ region });
    }
    return { repairedFrom: undefined, marked, reason };
  }

  private countRepair(region: string, from: string): void {
    this.metrics
      .counter('island_scrub_blocks_repaired_total', 'Lost blocks repaired by scrubs and fsck: from another region, or from a volume', ['region', 'from'])
      .inc({ region, from });
  }

  /** Asks the worker of the volume's host to put the block back from the volume's point in time; the stored size. */
  private async recoverFromVolume(region: string, block: PresentBlock, holder: BlockHolder): Promise<number> {
    const reply = await this.requester.request(
      BlockRecover,
      {
        host: holder.host,
        projectId: block.projectId as string,
        region,
        name: block.hash.toString('hex'),
        volumeId: holder.volumeId,
        path: holder.imagePath,
        pointInTime: holder.pointInTime,
        blockIndex: holder.blockIndex,
        blockSize: holder.blockSize,
      },
      RECOVER_TIMEOUT_MS,
    );
    const failure = reply.headers[BLOCK_RECOVER_REPLY.error];
    if (typeof failure === 'string') throw new Error(failure);
    return Number(reply.headers[BLOCK_RECOVER_REPLY.storedSize]);
  }

  /** A block marked damaged that reads whole now (written again by an upload, or put back): unmarked. */
  async unmark(region: string, store: SwiftBlockStore, block: PresentBlock): Promise<boolean> {
    const size = (await store.blockObjectSize(block.hash)) ?? block.storedSize;
    return markBlockWhole(this.dataSource.manager, region, block.hash, size);
  }
}

function short(text: string): string {
  return text.length > DETAIL_CHARS ? `${text.slice(0, DETAIL_CHARS)}…` : text;
}
