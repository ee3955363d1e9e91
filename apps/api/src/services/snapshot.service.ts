import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import { DataSource, Not } from 'typeorm';
import { NEW_SNAPSHOT_COUNTERS, SnapshotEntity } from '@island/catalog';
import { SnapshotTake } from '@island/contracts';
import { MetricsService } from '@island/platform';
import { Caller } from '../auth/caller';
import { CreateSnapshotDto, SnapshotView } from '../dtos/snapshot.dto';
import { ConflictError } from '../errors/domain-errors';
import { UnitOfWork } from '../outbox/unit-of-work';
import { assertUuid, findSnapshot, findVolume } from './catalog-queries';
import { startJob } from './jobs';
import { retireEmptyReplica, SnapshotCopyService } from './snapshot-copy.service';
import { deleteSnapshotInCatalog } from './snapshot-deletion';
import { snapshotPointInTime } from './naming';
import { SnapshotPipeline } from './snapshot-pipeline';
import { VolumeService } from './volume.service';

@Injectable()
export class SnapshotService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly uow: UnitOfWork,
    private readonly volumes: VolumeService,
    private readonly pipeline: SnapshotPipeline,
    private readonly metrics: MetricsService,
    private readonly copies: SnapshotCopyService,
  ) {}

  /**
   * Takes a snapshot. A placed volume's agent takes the point in time now (the snapshot is `pending` once
   * it is safe); its changed blocks upload after the volume's earlier snapshots. An unplaced volume's
   * content is its head already in Swift: the snapshot commits at once.
   */
  async create(caller: Caller, dto: CreateSnapshotDto, options: { id?: string } = {}): Promise<SnapshotView> {
    return this.uow.run(async (tx) => {
      const { m } = tx;
      if (options.id) {
        // Cinder's snapshot id: asking again for the same snapshot returns it
        const existing = await m.getRepository(SnapshotEntity).findOne({ where: { id: options.id } });
        if (existing && (existing.volumeId !== dto.volumeId || existing.status === 'deleted')) {
          throw new ConflictError(`snapshot id ${options.id} is taken`);
        }
        if (existing) return SnapshotView.of(await findSnapshot(m, caller, existing.id));
      }
      const volume = await findVolume(m, caller, dto.volumeId, true);
      if (volume.status !== 'available' && volume.status !== 'in-use') {
        throw new ConflictError(`volume ${volume.id} is ${volume.status}; snapshots are taken of available or in-use volumes`);
      }
      const seq = await this.volumes.nextSeq(m, volume.id);
      const placed = volume.host !== null && volume.imagePath !== null;
      const snapshot = await m.getRepository(SnapshotEntity).save(
        m.getRepository(SnapshotEntity).create({
          id: options.id ?? randomUUID(),
          volumeId: volume.id,
          projectId: volume.projectId,
          region: volume.region,
          seq,
          name: dto.name ?? '',
          status: placed ? 'creating' : 'committing',
          statusReason: null,
          pointInTime: placed ? snapshotPointInTime(seq) : null,
          sizeBytes: volume.sizeBytes,
          blockSize: volume.blockSize,
          manifestObject: null,
          ...NEW_SNAPSHOT_COUNTERS,
          copyOf: null,
          copiedFrom: null,
          groupId: null,
          committedAt: null,
          deletedAt: null,
        }),
      );
      await startJob(m, 'snapshot', { type: 'snapshot', id: snapshot.id, projectId: snapshot.projectId });
      if (placed) {
        await tx.send(SnapshotTake, {
          host: volume.host!,
          snapshotId: snapshot.id,
          volumeId: volume.id,
          path: volume.imagePath!,
          pointInTime: snapshot.pointInTime!,
        });
      } else {
        await this.pipeline.commit(tx, snapshot, volume);
      }
      return SnapshotView.of(await findSnapshot(m, caller, snapshot.id));
    });
  }

  async show(caller: Caller, id: string): Promise<SnapshotView> {
    assertUuid('snapshot', id);
    const view = SnapshotView.of(await findSnapshot(this.dataSource.manager, caller, id));
    return { ...view, regions: await this.copies.placements(id) };
  }

  async list(caller: Caller, volumeId?: string): Promise<SnapshotView[]> {
    if (volumeId) {
      assertUuid('volume', volumeId);
      await findVolume(this.dataSource.manager, caller, volumeId);
    }
    const snapshots = await this.dataSource.getRepository(SnapshotEntity).find({
      where: {
        status: Not('deleted'),
        ...(caller.scope !== undefined && { projectId: caller.scope }),
        ...(volumeId && { volumeId }),
      },
      order: { createdAt: 'ASC', seq: 'ASC' },
    });
    return snapshots.map((s) => SnapshotView.of(s));
  }

  /**
   * Deletes a snapshot, any of them in any order: the block versions only it could see lose their references
   * at once (work proportional to what changed around it); GC removes the blocks left without references
   * and, once no volume's content still points at it, the manifest. A snapshot still being made cannot be
   * deleted until it is available or has failed, nor one a revert is restoring right now.
   */
  async delete(caller: Caller, id: string): Promise<SnapshotView> {
    assertUuid('snapshot', id);
    return this.uow.run(async ({ m }) => {
      const found = await findSnapshot(m, caller, id);
      await m.query(`SELECT 1 FROM volume WHERE id = $1 FOR UPDATE`, [found.volumeId]); // every writer locks volume → snapshot
      const snapshot = await findSnapshot(m, caller, id, true);
      await deleteSnapshotInCatalog(m, snapshot, this.metrics);
      await retireEmptyReplica(m, snapshot.volumeId);
      return SnapshotView.of({ ...snapshot, status: 'deleted' });
    });
  }
}
