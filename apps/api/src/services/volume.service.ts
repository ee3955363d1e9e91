import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import { DataSource, EntityManager, IsNull, Not } from 'typeorm';
import { IslandConfig } from '@island/config';
import {
  HostEntity,
  removeVolumeVersions,
  revertVolumeVersions,
  seedVolumeFromSnapshot,
  SnapshotEntity,
  sqlRows,
  UNPLACED_VOLUME,
  VolumeEntity,
} from '@island/catalog';
import { ImageCreate, ImageDelete, ImageExport, ImageGrow, ImageUnexport, VolumeRestore } from '@island/contracts';
import { InjectConfig, MetricsService } from '@island/platform';
import { Caller } from '../auth/caller';
import { HOST_OFFLINE_AFTER_MS } from '../dtos/host.dto';
import { AttachVolumeDto, CreateVolumeDto, MAX_VOLUME_BYTES, VolumeView } from '../dtos/volume.dto';
import { ConflictError, InvalidRequestError, NotFoundError } from '../errors/domain-errors';
import { Tx, UnitOfWork } from '../outbox/unit-of-work';
import { assertUuid, findSnapshot, findVolume } from './catalog-queries';
import { finishJob, startJob } from './jobs';
import { gigabytesOf, reserveQuota } from './quotas';
import { IN_FLIGHT_SNAPSHOT, restoredPointInTime } from './naming';
import { SnapshotCopyService } from './snapshot-copy.service';
import { deleteSnapshotInCatalog } from './snapshot-deletion';

@Injectable()
export class VolumeService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @InjectConfig() private readonly config: IslandConfig,
    private readonly uow: UnitOfWork,
    private readonly metrics: MetricsService,
    private readonly copies: SnapshotCopyService,
  ) {}

  /**
   * Creates a volume. With `id` (Cinder's volume id), creating the same volume again returns it: a client
   * retrying after a lost reply gets the volume it made.
   */
  async create(caller: Caller, dto: CreateVolumeDto, options: { id?: string; managedBy?: 'cinder' } = {}): Promise<VolumeView> {
    if (dto.sizeBytes % 512 !== 0) throw new InvalidRequestError(`sizeBytes ${dto.sizeBytes} is not a multiple of 512`);
    return this.uow.run(async (tx) => {
      const { m } = tx;
      if (options.id) {
        const existing = await m.getRepository(VolumeEntity).findOne({ where: { id: options.id } });
        if (existing && (existing.projectId !== caller.projectId || existing.status === 'deleted')) {
          throw new ConflictError(`volume id ${options.id} is taken`);
        }
        if (existing) return VolumeView.of(existing);
      }
      const requested = dto.snapshotId ? await findSnapshot(m, caller, dto.snapshotId) : undefined;
      const region = dto.region ?? requested?.region ?? this.config.region;
      if (!this.config.regions.some((r) => r.name === region)) throw new InvalidRequestError(`unknown region ${region}`);
      if (requested && dto.sizeBytes < requested.sizeBytes) {
        throw new InvalidRequestError(`sizeBytes ${dto.sizeBytes} is smaller than snapshot ${requested.id} (${requested.sizeBytes})`);
      }
      // from another region: the snapshot's copy there, started now (copy on demand) unless one exists
      const inRegion = requested && requested.region !== region ? await this.copies.ensureCopy(tx, caller, requested.id, region) : requested;
      // locked: a concurrent delete of the source cannot drop its versions while the new volume copies them
      const source = inRegion ? await findSnapshot(m, caller, inRegion.id, true) : undefined;
      const awaitingCopy = source !== undefined && source.copyOf !== null && source.status !== 'available';
      if (source && !awaitingCopy && source.status !== 'available') throw new ConflictError(`snapshot ${source.id} is ${source.status}, not available`);
      await m.query(`INSERT INTO project (id) VALUES ($1) ON CONFLICT DO NOTHING`, [caller.projectId]);
      await reserveQuota(m, this.config, caller.projectId, { volumes: 1, gigabytes: gigabytesOf(dto.sizeBytes) });
      const volume = await m.getRepository(VolumeEntity).save(
        m.getRepository(VolumeEntity).create({
          id: options.id ?? randomUUID(),
          projectId: caller.projectId,
          name: dto.name ?? '',
          region,
          sizeBytes: dto.sizeBytes,
          blockSize: source?.blockSize ?? this.config.blocks.size,
          status: awaitingCopy ? 'creating' : 'available',
          ...UNPLACED_VOLUME,
          managedBy: options.managedBy ?? null,
          replicaOf: null,
          sourceSnapshotId: source?.id ?? null,
        }),
      );
      if (source && !awaitingCopy) {
        await seedVolumeFromSnapshot(m, volume.id, source);
        volume.headSnapshotId = source.id;
      }
      return VolumeView.of(volume);
    });
  }

  async show(caller: Caller, id: string): Promise<VolumeView> {
    assertUuid('volume', id);
    return VolumeView.of(await findVolume(this.dataSource.manager, caller, id));
  }

  async list(caller: Caller): Promise<VolumeView[]> {
    const volumes = await this.dataSource.getRepository(VolumeEntity).find({
      where: { deletedAt: IsNull(), status: Not('replica'), ...(caller.scope !== undefined && { projectId: caller.scope }) },
      order: { createdAt: 'ASC' },
    });
    return volumes.map((v) => VolumeView.of(v));
  }

  /**
   * Attaches on a host. The first attach places the volume there: the agent creates the image (empty) or
   * a worker restores the volume's content into it; later attaches on the same host are immediate.
   */
  async attach(caller: Caller, id: string, dto: AttachVolumeDto): Promise<VolumeView> {
    assertUuid('volume', id);
    return this.uow.run(async (tx) => {
      const { m } = tx;
      const volume = await findVolume(m, caller, id, true);
      const wanted = dto.export ?? null;
      const mode = (kind: string | null) => (kind ? `with export '${kind}'` : 'in file mode');
      if (volume.attached && volume.host === dto.host && volume.status === 'in-use') {
        if (volume.exportKind !== wanted) {
          throw new ConflictError(`volume ${id} is attached ${mode(volume.exportKind)}; detach it before attaching it ${mode(wanted)}`);
        }
        if (!wanted || !volume.imagePath) return VolumeView.of(volume);
        // asked again (e.g. Nova rebooting its guest): the agent re-checks the export, so the answer is not a loop
        // device or socket from before a host or storage-daemon restart, which may now be another volume's
        const job = await startJob(m, 'attach', { type: 'volume', id, projectId: volume.projectId }, { export: wanted, reattach: true });
        await m.update(VolumeEntity, { id }, { status: 'attaching', updatedAt: new Date() });
        await tx.send(ImageExport, { host: volume.host, volumeId: id, operationId: job.id, path: volume.imagePath, export: wanted });
        return VolumeView.of(await findVolume(m, caller, id));
      }
      if (volume.status === 'attaching' && volume.host === dto.host && volume.exportKind === wanted) return VolumeView.of(volume);
      if (volume.status !== 'available') throw new ConflictError(`volume ${id} is ${volume.status}; it can be attached when available`);
      if (volume.host && volume.host !== dto.host) {
        throw new ConflictError(`volume ${id} lives on host ${volume.host}; it can only be attached there`);
      }
      const host = await m.getRepository(HostEntity).findOne({ where: { name: dto.host } });
      if (!host) throw new NotFoundError('host', dto.host);
      if (host.region !== volume.region) throw new InvalidRequestError(`host ${host.name} is in region ${host.region}, the volume in ${volume.region}`);
      if (Date.now() - host.lastSeenAt.getTime() > HOST_OFFLINE_AFTER_MS) throw new ConflictError(`host ${host.name} is offline`);

      if (volume.host === dto.host && volume.imagePath) {
        if (wanted) {
          const job = await startJob(m, 'attach', { type: 'volume', id, projectId: volume.projectId }, { export: wanted });
          await m.update(VolumeEntity, { id }, { status: 'attaching', exportKind: wanted, statusReason: null, updatedAt: new Date() });
          await tx.send(ImageExport, { host: host.name, volumeId: id, operationId: job.id, path: volume.imagePath, export: wanted });
          return VolumeView.of(await findVolume(m, caller, id));
        }
        await m.update(VolumeEntity, { id }, { attached: true, status: 'in-use', statusReason: null, updatedAt: new Date() });
        return VolumeView.of({ ...volume, attached: true, status: 'in-use', statusReason: null });
      }
      await m.update(VolumeEntity, { id }, { exportKind: wanted });
      await this.place(tx, volume, host);
      return VolumeView.of(await findVolume(m, caller, id));
    });
  }

  /** Creates the volume's image on the host: empty, or restored from the snapshot that holds its content. */
  private async place(tx: Tx, volume: VolumeEntity, host: HostEntity): Promise<void> {
    const { m } = tx;
    const path = `${host.dataDir}/volumes/${volume.id}.qcow2`;
    const job = await startJob(m, 'attach', { type: 'volume', id: volume.id, projectId: volume.projectId });
    await m.update(VolumeEntity, { id: volume.id }, { status: 'attaching', host: host.name, statusReason: null, updatedAt: new Date() });
    if (!volume.headSnapshotId) {
      await tx.send(ImageCreate, { host: host.name, volumeId: volume.id, path, sizeBytes: volume.sizeBytes });
      return;
    }
    const head = await m.getRepository(SnapshotEntity).findOneByOrFail({ id: volume.headSnapshotId });
    if (!head.manifestObject) {
      throw new ConflictError(`snapshot ${head.id} holding the volume's content is still being sealed; retry shortly`);
    }
    await tx.send(VolumeRestore, {
      host: host.name,
      volumeId: volume.id,
      operationId: job.id,
      purpose: 'attach',
      region: volume.region,
      manifestObject: head.manifestObject,
      targetPath: path,
      sizeBytes: volume.sizeBytes,
      pointInTime: restoredPointInTime(job.id),
    });
  }

  /**
   * In file mode the agent has nothing to undo: the image stays on the host (lazy placement). With an
   * export, the volume is `detaching` until the storage daemon has let the image go.
   */
  async detach(caller: Caller, id: string): Promise<VolumeView> {
    assertUuid('volume', id);
    return this.uow.run(async (tx) => {
      const { m } = tx;
      const volume = await findVolume(m, caller, id, true);
      if (volume.status === 'detaching') return VolumeView.of(volume);
      if (!volume.attached) return VolumeView.of(volume);
      if (volume.status !== 'in-use') throw new ConflictError(`volume ${id} is ${volume.status}`);
      if (volume.exportKind && volume.host) {
        const job = await startJob(m, 'detach', { type: 'volume', id, projectId: volume.projectId });
        await m.update(VolumeEntity, { id }, { status: 'detaching', updatedAt: new Date() });
        await tx.send(ImageUnexport, { host: volume.host, volumeId: id, operationId: job.id });
        return VolumeView.of({ ...volume, status: 'detaching' });
      }
      await m.update(VolumeEntity, { id }, { attached: false, status: 'available', updatedAt: new Date() });
      return VolumeView.of({ ...volume, attached: false, status: 'available' });
    });
  }

  /**
   * Reverts to any snapshot of the volume. A placed volume gets a new image restored from the snapshot,
   * swapped in by its agent; an unplaced one only changes its head in the catalog.
   */
  async revert(caller: Caller, id: string, snapshotId: string): Promise<VolumeView> {
    assertUuid('volume', id);
    return this.uow.run(async (tx) => {
      const { m } = tx;
      const volume = await findVolume(m, caller, id, true);
      const target = await findSnapshot(m, caller, snapshotId);
      if (target.volumeId !== volume.id) throw new InvalidRequestError(`snapshot ${snapshotId} is not a snapshot of volume ${id}`);
      if (target.status !== 'available' || !target.manifestObject) throw new ConflictError(`snapshot ${snapshotId} is ${target.status}`);
      if (volume.attached) throw new ConflictError(`volume ${id} is attached; detach it before reverting`);
      if (volume.status !== 'available') throw new ConflictError(`volume ${id} is ${volume.status}`);
      const busy = await m.getRepository(SnapshotEntity).count({ where: { volumeId: id, status: IN_FLIGHT_SNAPSHOT } });
      if (busy > 0) throw new ConflictError(`volume ${id} has ${busy} snapshot(s) in progress; revert when they finish`);

      if (!volume.host || !volume.imagePath) {
        const seq = await this.nextSeq(m, id);
        await revertVolumeVersions(m, target, seq);
        return VolumeView.of(await findVolume(m, caller, id));
      }
      const job = await startJob(m, 'revert', { type: 'volume', id, projectId: volume.projectId }, { snapshotId: target.id });
      await m.update(VolumeEntity, { id }, { status: 'reverting', statusReason: null, updatedAt: new Date() });
      await tx.send(VolumeRestore, {
        host: volume.host,
        volumeId: id,
        operationId: job.id,
        purpose: 'revert',
        region: volume.region,
        manifestObject: target.manifestObject,
        targetPath: `${volume.imagePath}.revert-${job.id}`,
        sizeBytes: volume.sizeBytes,
        pointInTime: restoredPointInTime(job.id),
      });
      return VolumeView.of(await findVolume(m, caller, id));
    });
  }

  /** Deletes a volume; with cascade, its snapshots go first (each as `snapshot delete` would). */
  /**
   * Grows a volume. An unplaced volume only changes its size in the catalog (its image is created or
   * restored at the new size); a placed one is `extending` until its agent grew the image.
   */
  async extend(caller: Caller, id: string, sizeBytes: number): Promise<VolumeView> {
    assertUuid('volume', id);
    if (!Number.isSafeInteger(sizeBytes) || sizeBytes % 512 !== 0 || sizeBytes > MAX_VOLUME_BYTES) {
      throw new InvalidRequestError(`new size ${sizeBytes} must be a multiple of 512 bytes up to ${MAX_VOLUME_BYTES}`);
    }
    return this.uow.run(async (tx) => {
      const { m } = tx;
      const volume = await findVolume(m, caller, id, true);
      if (volume.status === 'extending' && volume.sizeBytes === sizeBytes) return VolumeView.of(volume);
      if (volume.sizeBytes === sizeBytes) return VolumeView.of(volume);
      if (sizeBytes < volume.sizeBytes) throw new InvalidRequestError(`volume ${id} is ${volume.sizeBytes} bytes; volumes only grow`);
      if (volume.status !== 'available' && volume.status !== 'in-use') throw new ConflictError(`volume ${id} is ${volume.status}`);
      if (volume.exportKind) {
        // QEMU's NBD export does not share the resize permission: the daemon cannot grow an image it serves
        throw new ConflictError(
          `volume ${id} is attached through the storage daemon, which cannot grow an image it serves; detach it, extend it, attach it again`,
        );
      }
      const busy = await m.getRepository(SnapshotEntity).count({ where: { volumeId: id, status: IN_FLIGHT_SNAPSHOT } });
      if (busy > 0) throw new ConflictError(`volume ${id} has ${busy} snapshot(s) in progress; extend it when they finish`);
      await reserveQuota(m, this.config, volume.projectId, { gigabytes: gigabytesOf(sizeBytes) - gigabytesOf(volume.sizeBytes) });
      if (!volume.host || !volume.imagePath) {
        await m.update(VolumeEntity, { id }, { sizeBytes, updatedAt: new Date() });
        return VolumeView.of({ ...volume, sizeBytes });
      }
      const job = await startJob(m, 'extend', { type: 'volume', id, projectId: volume.projectId }, { sizeBytes, previousStatus: volume.status });
      await m.update(VolumeEntity, { id }, { status: 'extending', statusReason: null, updatedAt: new Date() });
      await tx.send(ImageGrow, { host: volume.host, volumeId: id, operationId: job.id, path: volume.imagePath, sizeBytes });
      return VolumeView.of({ ...volume, status: 'extending' });
    });
  }

  async delete(caller: Caller, id: string, options: { cascade?: boolean } = {}): Promise<VolumeView> {
    assertUuid('volume', id);
    return this.uow.run(async (tx) => {
      const { m } = tx;
      const volume = await findVolume(m, caller, id, true);
      if (volume.status === 'deleting') return VolumeView.of(volume);
      if (volume.attached) throw new ConflictError(`volume ${id} is attached; detach it first`);
      if (volume.status !== 'available' && volume.status !== 'error') throw new ConflictError(`volume ${id} is ${volume.status}`);
      const snapshots = await m.getRepository(SnapshotEntity).find({
        where: { volumeId: id, status: Not('deleted') },
        order: { seq: 'ASC' },
        lock: { mode: 'pessimistic_write' },
      });
      if (snapshots.length > 0 && !options.cascade) {
        throw new ConflictError(`volume ${id} has ${snapshots.length} snapshot(s); delete them first, or delete the volume with cascade`);
      }
      for (const snapshot of snapshots) await deleteSnapshotInCatalog(m, snapshot, this.metrics);
      if (volume.host && volume.imagePath) {
        await startJob(m, 'volume-delete', { type: 'volume', id, projectId: volume.projectId });
        await m.update(VolumeEntity, { id }, { status: 'deleting', updatedAt: new Date() });
        await tx.send(ImageDelete, { host: volume.host, volumeId: id, path: volume.imagePath, reason: 'volume-delete' });
        return VolumeView.of({ ...volume, status: 'deleting' });
      }
      await this.finishDelete(m, volume);
      return VolumeView.of({ ...volume, status: 'deleted' });
    });
  }

  /** The image is gone from the host (or never existed): drop the volume's references. */
  async finishDelete(m: EntityManager, volume: VolumeEntity): Promise<void> {
    await removeVolumeVersions(m, volume.id, volume.region);
    await m.update(VolumeEntity, { id: volume.id }, { status: 'deleted', deletedAt: new Date(), updatedAt: new Date() });
    const running = await sqlRows<{ id: string }>(m, `SELECT id FROM job WHERE resource_id = $1 AND kind = 'volume-delete' AND status = 'running'`, [
      volume.id,
    ]);
    for (const { id } of running) await finishJob(m, id);
  }

  async nextSeq(m: EntityManager, volumeId: string): Promise<number> {
    const [row] = await sqlRows<{ seq: number }>(m, `UPDATE volume SET next_seq = next_seq + 1 WHERE id = $1 RETURNING next_seq - 1 AS seq`, [volumeId]);
    return row.seq;
  }
}
