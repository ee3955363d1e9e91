import { BadGatewayException, Injectable, ServiceUnavailableException } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { Catalog, isVisibleSnapshot, SnapshotEntity } from '@island/catalog';
import { BLOCK_READ_REPLY, BlockRead } from '@island/contracts';
import { BrokerUnavailableError, MessageRequester, RequestTimeoutError } from '@island/messaging';
import { Caller } from '../auth/caller';
import { ChangedBlocksView } from '../dtos/snapshot-data.dto';
import { ConflictError, InvalidRequestError, NotFoundError } from '../errors/domain-errors';
import { UnitOfWork } from '../outbox/unit-of-work';
import { integerParam } from './list-query';
import { assertUuid, findSnapshot, keyShreddedError } from './visible-resources';

export const CHANGED_BLOCKS_DEFAULT_LIMIT = 10_000;
export const CHANGED_BLOCKS_MAX_LIMIT = 100_000;
/** How long a block read waits for a worker's answer. */
const BLOCK_READ_TIMEOUT_MS = 30_000;

export interface SnapshotBlock {
  data: Buffer;
  sha256: string;
  hole: boolean;
}

/** Where a snapshot's content is in the ledger: a volume's versions at a sequence number. */
interface LedgerPoint {
  volumeId: string;
  seq: number;
}

/**
 * A snapshot's data for backup tools (the role of EBS's ListChangedBlocks and GetSnapshotBlock): which blocks differ
 * between two snapshots, from the catalog's block versions alone, and one block's bytes, read by a snapshot worker
 * (the API holds no keys and no Swift credentials; docs/security.md).
 */
@Injectable()
export class SnapshotDataService {
  constructor(
    private readonly uow: UnitOfWork,
    private readonly requester: MessageRequester,
  ) {}

  async changedBlocks(caller: Caller, id: string, query: { base?: string; marker?: string; limit?: string }): Promise<ChangedBlocksView> {
    assertUuid('snapshot', id);
    if (query.base !== undefined) assertUuid('snapshot', query.base);
    const limit = integerParam('limit', query.limit, 1, CHANGED_BLOCKS_MAX_LIMIT) ?? CHANGED_BLOCKS_DEFAULT_LIMIT;
    const marker = integerParam('marker', query.marker, 0, Number.MAX_SAFE_INTEGER);
    return this.uow.readConsistent(async (catalog) => {
      // both found (or not found) before either's state is judged: another project learns nothing
      const snapshot = await findSnapshot(catalog, caller, id);
      const base = query.base !== undefined ? await findSnapshot(catalog, caller, query.base) : undefined;
      readable(snapshot);
      if (base) readable(base);
      const to = await ledgerPoint(catalog, snapshot);
      let from: LedgerPoint | undefined;
      if (base) {
        from = await ledgerPoint(catalog, base);
        if (from.volumeId !== to.volumeId) {
          throw new ConflictError(
            `snapshots ${base.id} and ${snapshot.id} are of different volumes (${base.volumeId}, ${snapshot.volumeId}): changed blocks are ` +
              `between snapshots of one volume (a volume created from a snapshot starts its own lineage: ask without a base)`,
          );
        }
        if (from.seq > to.seq) throw new InvalidRequestError(`base snapshot ${base.id} is newer than snapshot ${snapshot.id}: give the older one as base`);
      }
      const blocks = await catalog.ledger.changedBlocks(to.volumeId, from ? from.seq : null, to.seq, marker ?? -1, limit);
      return {
        snapshotId: snapshot.id,
        baseSnapshotId: base?.id ?? null,
        sizeBytes: snapshot.sizeBytes,
        baseSizeBytes: base?.sizeBytes ?? null,
        blockSize: snapshot.blockSize,
        blocks,
        nextMarker: blocks.length === limit ? blocks[blocks.length - 1] : null,
      };
    });
  }

  /**
   * Block `index` of a snapshot: zeros for a hole (Swift is not asked), else what a worker read and verified. The
   * snapshot, its key's state and the block's name come from one statement: no transaction per megabyte served.
   */
  async block(caller: Caller, id: string, indexParam: string): Promise<SnapshotBlock> {
    assertUuid('snapshot', id);
    const index = integerParam('block index', indexParam, 0, Number.MAX_SAFE_INTEGER) as number;
    const found = await this.uow.read((catalog) => catalog.ledger.snapshotBlockAt(id, index));
    if (!found || !isVisibleSnapshot(found, { scope: caller.scope })) throw new NotFoundError('snapshot', id);
    readable({ id, status: found.status });
    const blocks = Math.ceil(found.sizeBytes / found.blockSize);
    if (index >= blocks) {
      throw new InvalidRequestError(`block index ${index} is past the end of snapshot ${id} (${blocks} blocks of ${found.blockSize} bytes)`);
    }
    if (found.keyShreddedAt) throw keyShreddedError(found.projectId, found.keyShreddedAt);
    const { name } = found;
    const length = Math.min(found.blockSize, found.sizeBytes - index * found.blockSize);
    if (!name) {
      const zeros = Buffer.alloc(length);
      return { data: zeros, sha256: sha256(zeros), hole: true };
    }
    let reply;
    try {
      reply = await this.requester.request(
        BlockRead,
        { projectId: found.projectId, region: found.region, name: name.toString('hex'), blockSize: found.blockSize, length },
        BLOCK_READ_TIMEOUT_MS,
      );
    } catch (error) {
      if (error instanceof RequestTimeoutError || error instanceof BrokerUnavailableError) throw new ServiceUnavailableException(error.message);
      throw error;
    }
    const failure = reply.headers[BLOCK_READ_REPLY.error];
    if (typeof failure === 'string') throw new BadGatewayException(failure);
    const digest = sha256(reply.content);
    if (reply.headers[BLOCK_READ_REPLY.sha256] !== digest || reply.content.length !== length) {
      throw new BadGatewayException(`block ${index} of snapshot ${id} arrived damaged from the worker (checksum or length mismatch); retry`);
    }
    return { data: reply.content, sha256: digest, hole: false };
  }
}

/** Only an available snapshot is read: one still uploading has no content yet, a deleted or failed one none. */
function readable<T extends Pick<SnapshotEntity, 'id' | 'status'>>(snapshot: T): T {
  if (snapshot.status !== 'available')
    throw new ConflictError(`snapshot ${snapshot.id} is ${snapshot.status}: only an available snapshot's blocks can be read`);
  return snapshot;
}

/**
 * A copy in another region has its original's content (the same block names in every region) and is answered from
 * the original's volume while the original is available, so it compares with the original's other snapshots. Without
 * it the copy's own versions (one seq each, on the region's replica) still answer, compared only with other copies.
 */
async function ledgerPoint(catalog: Catalog, snapshot: SnapshotEntity): Promise<LedgerPoint> {
  if (snapshot.copyOf) {
    const original = await catalog.snapshots.find(snapshot.copyOf);
    if (original?.status === 'available') return { volumeId: original.volumeId, seq: original.seq };
  }
  return { volumeId: snapshot.volumeId, seq: snapshot.seq };
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
