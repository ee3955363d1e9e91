import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import { DataSource, EntityManager, Not } from 'typeorm';
import { IslandConfig } from '@island/config';
import { NEW_SNAPSHOT_COUNTERS, SnapshotEntity, sqlRows, UNPLACED_VOLUME, VolumeEntity } from '@island/catalog';
import { SnapshotCopy } from '@island/contracts';
import { InjectConfig } from '@island/platform';
import { Caller } from '../auth/caller';
import { SnapshotView } from '../dtos/snapshot.dto';
import { ConflictError, InvalidRequestError } from '../errors/domain-errors';
import { Tx, UnitOfWork } from '../outbox/unit-of-work';
import { assertUuid, findSnapshot } from './catalog-queries';
import { startJob } from './jobs';
import { reserveQuota } from './quotas';

/** Where a snapshot's content is, per region: the original and its copies. */
export interface SnapshotPlacement {
  region: string;
  snapshotId: string;
  status: SnapshotEntity['status'];
}

/**
 * Copies of snapshots between regions. A copy is a snapshot of the source volume's replica in the target
 * region, with the source's sequence number; any worker moves the blocks the target region lacks, then the
 * copy commits and its manifest is written there like any snapshot's. One live copy per region: asking
 * again returns the copy that exists or is being made.
 */
@Injectable()
export class SnapshotCopyService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @InjectConfig() private readonly config: IslandConfig,
    private readonly uow: UnitOfWork,
  ) {}

  async copy(caller: Caller, id: string, region: string): Promise<SnapshotView> {
    assertUuid('snapshot', id);
    return this.uow.run(async (tx) => {
      const copy = await this.ensureCopy(tx, caller, id, region);
      return SnapshotView.of(copy);
    });
  }

  /** The live snapshot holding this snapshot's content in `region` (itself, a copy, or a copy just started). */
  async ensureCopy(tx: Tx, caller: Caller, id: string, region: string): Promise<SnapshotEntity> {
    const { m } = tx;
    if (!this.config.regions.some((r) => r.name === region)) throw new InvalidRequestError(`unknown region ${region}`);
    const found = await findSnapshot(m, caller, id);
    // every writer locks volume → snapshot; the source volume's lock also serialises copies of its snapshots
    await m.query(`SELECT 1 FROM volume WHERE id = $1 FOR UPDATE`, [found.volumeId]);
    const source = await findSnapshot(m, caller, id, true);
    const existing = await liveSnapshotIn(m, source.copyOf ?? source.id, region);
    if (existing) return existing;
    if (source.status !== 'available' || !source.manifestObject) {
      throw new ConflictError(`snapshot ${source.id} is ${source.status}; it can be copied once it is available`);
    }
    const replica = await this.replicaFor(m, source, region);
    await reserveQuota(m, this.config, source.projectId, { snapshots: 1 });
    const copy = await m.getRepository(SnapshotEntity).save(
      m.getRepository(SnapshotEntity).create({
        ...source,
        id: randomUUID(),
        volumeId: replica.id,
        region,
        status: 'uploading',
        statusReason: null,
        pointInTime: null,
        manifestObject: null,
        ...NEW_SNAPSHOT_COUNTERS,
        copyOf: source.copyOf ?? source.id,
        copiedFrom: source.id,
        createdAt: new Date(),
        updatedAt: new Date(),
        committedAt: null,
        deletedAt: null,
      }),
    );
    await startJob(m, 'snapshot-copy', { type: 'snapshot', id: copy.id, projectId: copy.projectId }, { from: source.id, fromRegion: source.region, region });
    await tx.send(SnapshotCopy, {
      snapshotId: copy.id,
      region,
      sourceSnapshotId: source.id,
      sourceRegion: source.region,
      sourceManifest: source.manifestObject,
      blockSize: source.blockSize,
      sizeBytes: source.sizeBytes,
    });
    return copy;
  }

  /** Every region holding this snapshot's content, the original's first. */
  async placements(id: string): Promise<SnapshotPlacement[]> {
    const rows = await sqlRows<{ id: string; region: string; status: SnapshotEntity['status'] }>(
      this.dataSource.manager,
      `SELECT s.id, s.region, s.status FROM snapshot s, snapshot me
        WHERE me.id = $1 AND coalesce(s.copy_of, s.id) = coalesce(me.copy_of, me.id) AND s.status NOT IN ('deleted', 'error')
        ORDER BY s.copy_of IS NOT NULL, s.region`,
      [id],
    );
    return rows.map((r) => ({ region: r.region, snapshotId: r.id, status: r.status }));
  }

  /** The hidden volume that holds copies of the source volume's snapshots in `region`; made on first use. */
  private async replicaFor(m: EntityManager, source: SnapshotEntity, region: string): Promise<VolumeEntity> {
    const origin = await m.getRepository(VolumeEntity).findOneByOrFail({ id: source.volumeId });
    const of = origin.replicaOf ?? origin.id;
    // copies of one volume's content reach a region from its own snapshots and from other regions' copies: the
    // source volume's lock serialises them
    if (of !== origin.id) await m.query(`SELECT 1 FROM volume WHERE id = $1 FOR UPDATE`, [of]);
    const repo = m.getRepository(VolumeEntity);
    const existing = await repo.findOne({ where: { replicaOf: of, region, status: Not('deleted') }, lock: { mode: 'pessimistic_write' } });
    if (existing) {
      if (existing.sizeBytes < source.sizeBytes) await repo.update({ id: existing.id }, { sizeBytes: source.sizeBytes, updatedAt: new Date() });
      return existing;
    }
    return repo.save(
      repo.create({
        id: randomUUID(),
        projectId: source.projectId,
        name: origin.name,
        region,
        sizeBytes: source.sizeBytes,
        blockSize: source.blockSize,
        status: 'replica',
        ...UNPLACED_VOLUME,
        managedBy: null,
        replicaOf: of,
        sourceSnapshotId: null,
      }),
    );
  }
}

/** The live (not deleted, not failed) snapshot with this original's content in a region. */
export async function liveSnapshotIn(m: EntityManager, originalId: string, region: string): Promise<SnapshotEntity | null> {
  const [row] = await sqlRows<{ id: string }>(
    m,
    `SELECT id FROM snapshot WHERE coalesce(copy_of, id) = $1 AND region = $2 AND status NOT IN ('deleted', 'error')`,
    [originalId, region],
  );
  return row ? m.getRepository(SnapshotEntity).findOneByOrFail({ id: row.id }) : null;
}

/** A replica left without snapshots goes too (it holds no versions then). */
export async function retireEmptyReplica(m: EntityManager, volumeId: string): Promise<void> {
  await m.query(
    `UPDATE volume SET status = 'deleted', deleted_at = now(), updated_at = now()
      WHERE id = $1 AND status = 'replica'
        AND NOT EXISTS (SELECT 1 FROM snapshot WHERE volume_id = $1 AND status <> 'deleted')`,
    [volumeId],
  );
}
