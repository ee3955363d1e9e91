import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { IslandConfig } from '@island/config';
import { Catalog, HostEntity, restoredPointInTime, UNPLACED_VOLUME, VolumeEntity } from '@island/catalog';
import { ImageCreate, ImageCreateFromSnapshot, ImageDelete, ImageExport, ImageGrow, ImageUnexport, VolumeRestore } from '@island/contracts';
import { InjectConfig, MetricsService } from '@island/platform';
import { Caller } from '../auth/caller';
import { HOST_OFFLINE_AFTER_MS } from '../dtos/host.dto';
import { AttachVolumeDto, CreateVolumeDto, MAX_VOLUME_BYTES, VolumeListView, VolumeView } from '../dtos/volume.dto';
import { ConflictError, InvalidRequestError, NotFoundError } from '../errors/domain-errors';
import { Tx, UnitOfWork } from '../outbox/unit-of-work';
import { pageRequest, unknownMarker } from './list-query';
import { gigabytesOf, reserveQuota } from './quota-check';
import { SnapshotCopyService } from './snapshot-copy.service';
import { deleteSnapshotInCatalog, purgeSnapshotInCatalog } from './snapshot-deletion';
import { assertKeyNotShredded, assertUuid, findSnapshot, findVolume } from './visible-resources';

/** Room kept free on a host beside a volume restored there. */
const PLACEMENT_MARGIN_BYTES = 64 * 1024 * 1024;
const gib = (bytes: number) => (bytes / 1024 ** 3).toFixed(2);
/** qcow2's largest cluster: a lazily filled image has one cluster per block. */
const MAX_LAZY_BLOCK_BYTES = 2 * 1024 * 1024;

/**
 * Whether the volume can be served before its content is local: exported (the storage daemon fills it; file mode
 * gives the image itself to its user), with blocks an image's clusters can be.
 */
function fillsLazily(volume: VolumeEntity): boolean {
  const b = volume.blockSize;
  return b >= 512 && b <= MAX_LAZY_BLOCK_BYTES && (b & (b - 1)) === 0;
}

/** Refuses what needs the image to itself (file-mode access, grow, revert) while the storage daemon fills it. */
function assertNotFilling(volume: VolumeEntity, action: string): void {
  if (volume.fillStatus !== 'filling') return;
  const percent = volume.fillTotal > 0 ? Math.floor((100 * volume.fillDone) / volume.fillTotal) : 0;
  throw new ConflictError(`volume ${volume.id} is still filling from its snapshot (${percent} %); ${action} once it is filled`);
}

@Injectable()
export class VolumeService {
  constructor(
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
    if (dto.sizeBytes !== undefined && dto.sizeBytes % 512 !== 0) throw new InvalidRequestError(`sizeBytes ${dto.sizeBytes} is not a multiple of 512`);
    return this.uow.run(async (tx) => {
      const { catalog } = tx;
      if (options.id) {
        const existing = await catalog.volumes.find(options.id);
        if (existing && (existing.projectId !== caller.projectId || existing.status === 'deleted')) {
          throw new ConflictError(`volume id ${options.id} is taken`);
        }
        if (existing) return VolumeView.of(existing);
      }
      const requested = dto.snapshotId ? await findSnapshot(catalog, caller, dto.snapshotId) : undefined;
      // its blocks are sealed under its project's key: a volume of another project could not read them
      if (requested && requested.projectId !== caller.projectId) {
        throw new InvalidRequestError(`snapshot ${requested.id} belongs to project ${requested.projectId}: create the volume in that project`);
      }
      if (requested) await assertKeyNotShredded(catalog, requested.projectId);
      const region = dto.region ?? requested?.region ?? this.config.region;
      if (!this.config.regions.some((r) => r.name === region)) throw new InvalidRequestError(`unknown region ${region}`);
      // without a size, the snapshot's: its content and nothing more
      const sizeBytes = dto.sizeBytes ?? requested?.sizeBytes;
      if (sizeBytes === undefined) throw new InvalidRequestError('sizeBytes is required unless snapshotId is given');
      if (requested && sizeBytes < requested.sizeBytes) {
        throw new InvalidRequestError(`sizeBytes ${sizeBytes} is smaller than snapshot ${requested.id} (${requested.sizeBytes})`);
      }
      // from another region: the snapshot's copy there, started now (copy on demand) unless one exists
      const inRegion = requested && requested.region !== region ? await this.copies.ensureCopy(tx, caller, requested.id, region) : requested;
      // locked: a concurrent delete of the source cannot drop its versions while the new volume copies them
      const source = inRegion ? await findSnapshot(catalog, caller, inRegion.id, true) : undefined;
      const awaitingCopy = source !== undefined && source.copyOf !== null && source.status !== 'available';
      if (source && !awaitingCopy && source.status !== 'available') throw new ConflictError(`snapshot ${source.id} is ${source.status}, not available`);
      await catalog.projects.ensure(caller.projectId);
      await reserveQuota(catalog, this.config, caller.projectId, { volumes: 1, gigabytes: gigabytesOf(sizeBytes) });
      const volume = await catalog.volumes.add({
        id: options.id ?? randomUUID(),
        projectId: caller.projectId,
        name: dto.name ?? '',
        region,
        sizeBytes,
        blockSize: source?.blockSize ?? this.config.blocks.size,
        status: awaitingCopy ? 'creating' : 'available',
        ...UNPLACED_VOLUME,
        managedBy: options.managedBy ?? null,
        replicaOf: null,
        sourceSnapshotId: source?.id ?? null,
      });
      if (source && !awaitingCopy) {
        await catalog.ledger.seedVolume(volume.id, source);
        volume.headSnapshotId = source.id;
      }
      return VolumeView.of(volume);
    });
  }

  async show(caller: Caller, id: string): Promise<VolumeView> {
    assertUuid('volume', id);
    return VolumeView.of(await this.uow.read((catalog) => findVolume(catalog, caller, id)));
  }

  /** A page of the caller's volumes (every project's for the admin), oldest first. */
  async list(caller: Caller, query: { marker?: string; limit?: string }): Promise<VolumeListView> {
    const request = pageRequest('volume', query);
    const page = await this.uow.read((catalog) => catalog.volumes.page(caller.scope, request));
    if (!page) throw unknownMarker('volume', request.marker);
    return { volumes: page.items.map((v) => VolumeView.of(v)), nextMarker: page.nextMarker };
  }

  /**
   * Attaches on a host. The first attach places the volume there: the agent creates the image (empty) or
   * a worker restores the volume's content into it; later attaches on the same host are immediate.
   */
  async attach(caller: Caller, id: string, dto: AttachVolumeDto): Promise<VolumeView> {
    assertUuid('volume', id);
    return this.uow.run(async (tx) => {
      const { catalog } = tx;
      const volume = await findVolume(catalog, caller, id, true);
      const wanted = dto.export ?? null;
      const mode = (kind: string | null) => (kind ? `with export '${kind}'` : 'in file mode');
      if (volume.attached && volume.host === dto.host && volume.status === 'in-use') {
        if (volume.exportKind !== wanted) {
          throw new ConflictError(`volume ${id} is attached ${mode(volume.exportKind)}; detach it before attaching it ${mode(wanted)}`);
        }
        if (!wanted || !volume.imagePath) return VolumeView.of(volume);
        // asked again (e.g. Nova rebooting its guest): the agent re-checks the export, so the answer is not a loop
        // device or socket from before a host or storage-daemon restart, which may now be another volume's
        const job = await catalog.jobs.start('attach', { type: 'volume', id, projectId: volume.projectId }, { export: wanted, reattach: true });
        await catalog.volumes.setStatus(id, 'attaching');
        await tx.send(ImageExport, { host: volume.host, volumeId: id, operationId: job.id, path: volume.imagePath, export: wanted });
        return VolumeView.of(await findVolume(catalog, caller, id));
      }
      if (volume.status === 'attaching' && volume.host === dto.host && volume.exportKind === wanted) return VolumeView.of(volume);
      if (volume.status !== 'available') throw new ConflictError(`volume ${id} is ${volume.status}; it can be attached when available`);
      if (volume.host && volume.host !== dto.host) {
        throw new ConflictError(`volume ${id} lives on host ${volume.host}; it can only be attached there`);
      }
      const host = await catalog.hosts.byName(dto.host);
      if (!host) throw new NotFoundError('host', dto.host);
      if (host.region !== volume.region) throw new InvalidRequestError(`host ${host.name} is in region ${host.region}, the volume in ${volume.region}`);
      if (Date.now() - host.lastSeenAt.getTime() > HOST_OFFLINE_AFTER_MS) throw new ConflictError(`host ${host.name} is offline`);

      if (volume.host === dto.host && volume.imagePath) {
        // the storage daemon owns an image that still fills: only an export can serve it
        if (!wanted) assertNotFilling(volume, 'attach it with --export nbd, raw or block (the fill goes on), or in file mode');
        if (wanted) {
          const job = await catalog.jobs.start('attach', { type: 'volume', id, projectId: volume.projectId }, { export: wanted });
          await catalog.volumes.startAttach(id, host.name, wanted);
          await tx.send(ImageExport, { host: host.name, volumeId: id, operationId: job.id, path: volume.imagePath, export: wanted });
          return VolumeView.of(await findVolume(catalog, caller, id));
        }
        await catalog.volumes.markAttached(id);
        return VolumeView.of({ ...volume, attached: true, status: 'in-use', statusReason: null });
      }
      await this.place(tx, volume, host, wanted);
      return VolumeView.of(await findVolume(catalog, caller, id));
    });
  }

  /** Creates the volume's image on the host: empty, or restored from the snapshot that holds its content. */
  private async place(tx: Tx, volume: VolumeEntity, host: HostEntity, exportKind: VolumeEntity['exportKind']): Promise<void> {
    const { catalog } = tx;
    const path = `${host.dataDir}/volumes/${volume.id}.qcow2`;
    const job = await catalog.jobs.start('attach', { type: 'volume', id: volume.id, projectId: volume.projectId }, exportKind ? { export: exportKind } : {});
    await catalog.volumes.startAttach(volume.id, host.name, exportKind);
    if (!volume.headSnapshotId) {
      await tx.send(ImageCreate, { host: host.name, volumeId: volume.id, path, sizeBytes: volume.sizeBytes });
      return;
    }
    // refused before anything starts when the host's disk (as its agent last reported) cannot take the content
    const contentBytes = (await catalog.ledger.headBlockCount(volume.id)) * volume.blockSize;
    if (contentBytes + PLACEMENT_MARGIN_BYTES > host.freeBytes) {
      throw new ConflictError(
        `host ${host.name} has ${gib(host.freeBytes)} GiB free; volume ${volume.id}'s content needs ${gib(contentBytes)} GiB there (+${gib(PLACEMENT_MARGIN_BYTES)} GiB margin)`,
      );
    }
    const head = await catalog.snapshots.get(volume.headSnapshotId);
    if (!head.manifestObject) {
      throw new ConflictError(`snapshot ${head.id} holding the volume's content is still being sealed; retry shortly`);
    }
    const source = {
      host: host.name,
      volumeId: volume.id,
      operationId: job.id,
      projectId: volume.projectId,
      region: volume.region,
      manifestObject: head.manifestObject,
      manifestSealed: head.manifestSealed,
      sizeBytes: volume.sizeBytes,
      pointInTime: restoredPointInTime(job.id),
    };
    if (exportKind && this.config.lazyRestore && fillsLazily(volume)) {
      // served at once: the storage daemon reads missing blocks from the snapshot and fills the image behind the guest
      await catalog.volumes.startFill(volume.id, volume.sizeBytes);
      await tx.send(ImageCreateFromSnapshot, { ...source, path });
      return;
    }
    await tx.send(VolumeRestore, { ...source, purpose: 'attach', targetPath: path });
  }

  /**
   * In file mode the agent has nothing to undo: the image stays on the host (lazy placement). With an
   * export, the volume is `detaching` until the storage daemon has let the image go.
   */
  async detach(caller: Caller, id: string): Promise<VolumeView> {
    assertUuid('volume', id);
    return this.uow.run(async (tx) => {
      const { catalog } = tx;
      const volume = await findVolume(catalog, caller, id, true);
      if (volume.status === 'detaching') return VolumeView.of(volume);
      if (!volume.attached) return VolumeView.of(volume);
      if (volume.status !== 'in-use') throw new ConflictError(`volume ${id} is ${volume.status}`);
      if (volume.exportKind && volume.host) {
        const job = await catalog.jobs.start('detach', { type: 'volume', id, projectId: volume.projectId }, {});
        await catalog.volumes.setStatus(id, 'detaching');
        await tx.send(ImageUnexport, { host: volume.host, volumeId: id, operationId: job.id });
        return VolumeView.of({ ...volume, status: 'detaching' });
      }
      await catalog.volumes.markDetached(id);
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
      const { catalog } = tx;
      const volume = await findVolume(catalog, caller, id, true);
      const target = await findSnapshot(catalog, caller, snapshotId);
      if (target.volumeId !== volume.id) throw new InvalidRequestError(`snapshot ${snapshotId} is not a snapshot of volume ${id}`);
      if (target.status !== 'available' || !target.manifestObject) throw new ConflictError(`snapshot ${snapshotId} is ${target.status}`);
      if (volume.attached) throw new ConflictError(`volume ${id} is attached; detach it before reverting`);
      assertNotFilling(volume, 'revert it');
      if (volume.status !== 'available') throw new ConflictError(`volume ${id} is ${volume.status}`);
      const busy = await catalog.snapshots.countInFlight(id);
      if (busy > 0) throw new ConflictError(`volume ${id} has ${busy} snapshot(s) in progress; revert when they finish`);

      if (!volume.host || !volume.imagePath) {
        const seq = await catalog.volumes.takeSeq(id);
        await catalog.ledger.revertVolume(target, seq);
        return VolumeView.of(await findVolume(catalog, caller, id));
      }
      const job = await catalog.jobs.start('revert', { type: 'volume', id, projectId: volume.projectId }, { snapshotId: target.id });
      await catalog.volumes.setStatus(id, 'reverting', null);
      await tx.send(VolumeRestore, {
        host: volume.host,
        volumeId: id,
        operationId: job.id,
        purpose: 'revert',
        projectId: volume.projectId,
        region: volume.region,
        manifestObject: target.manifestObject,
        manifestSealed: target.manifestSealed,
        targetPath: `${volume.imagePath}.revert-${job.id}`,
        sizeBytes: volume.sizeBytes,
        pointInTime: restoredPointInTime(job.id),
      });
      return VolumeView.of(await findVolume(catalog, caller, id));
    });
  }

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
      const { catalog } = tx;
      const volume = await findVolume(catalog, caller, id, true);
      if (volume.status === 'extending' && volume.sizeBytes === sizeBytes) return VolumeView.of(volume);
      if (volume.sizeBytes === sizeBytes) return VolumeView.of(volume);
      if (sizeBytes < volume.sizeBytes) throw new InvalidRequestError(`volume ${id} is ${volume.sizeBytes} bytes; volumes only grow`);
      if (volume.status !== 'available' && volume.status !== 'in-use') throw new ConflictError(`volume ${id} is ${volume.status}`);
      assertNotFilling(volume, 'extend it');
      if (volume.exportKind) {
        // QEMU's NBD export does not share the resize permission: the daemon cannot grow an image it serves
        throw new ConflictError(
          `volume ${id} is attached through the storage daemon, which cannot grow an image it serves; detach it, extend it, attach it again`,
        );
      }
      const busy = await catalog.snapshots.countInFlight(id);
      if (busy > 0) throw new ConflictError(`volume ${id} has ${busy} snapshot(s) in progress; extend it when they finish`);
      await reserveQuota(catalog, this.config, volume.projectId, { gigabytes: gigabytesOf(sizeBytes) - gigabytesOf(volume.sizeBytes) });
      if (!volume.host || !volume.imagePath) {
        await catalog.volumes.resize(id, sizeBytes);
        return VolumeView.of({ ...volume, sizeBytes });
      }
      const job = await catalog.jobs.start('extend', { type: 'volume', id, projectId: volume.projectId }, { sizeBytes, previousStatus: volume.status });
      await catalog.volumes.setStatus(id, 'extending', null);
      await tx.send(ImageGrow, { host: volume.host, volumeId: id, operationId: job.id, path: volume.imagePath, sizeBytes });
      return VolumeView.of({ ...volume, status: 'extending' });
    });
  }

  /**
   * Deletes a volume; with cascade, its snapshots go first (each as `snapshot delete --purge` would). Its snapshots in
   * the recycle bin do not hold it back (Cinder deletes a volume right after its snapshots): they are purged with it.
   */
  async delete(caller: Caller, id: string, options: { cascade?: boolean } = {}): Promise<VolumeView> {
    assertUuid('volume', id);
    return this.uow.run(async (tx) => {
      const { catalog } = tx;
      const volume = await findVolume(catalog, caller, id, true);
      if (volume.status === 'deleting') return VolumeView.of(volume);
      if (volume.attached) throw new ConflictError(`volume ${id} is attached; detach it first`);
      if (volume.status !== 'available' && volume.status !== 'error') throw new ConflictError(`volume ${id} is ${volume.status}`);
      const snapshots = await catalog.snapshots.ofVolume(id, { lock: true });
      if (snapshots.length > 0 && !options.cascade) {
        throw new ConflictError(`volume ${id} has ${snapshots.length} snapshot(s); delete them first, or delete the volume with cascade`);
      }
      // the volume takes its snapshots along for good: the cascade's and those in the recycle bin are purged
      for (const snapshot of snapshots) await deleteSnapshotInCatalog(catalog, this.config, snapshot, this.metrics, { purge: true });
      for (const snapshot of await catalog.snapshots.ofVolume(id, { recycled: true, lock: true }))
        await purgeSnapshotInCatalog(catalog, snapshot, this.metrics);
      if (volume.host && volume.imagePath) {
        await catalog.jobs.start('volume-delete', { type: 'volume', id, projectId: volume.projectId }, {});
        await catalog.volumes.setStatus(id, 'deleting');
        await tx.send(ImageDelete, { host: volume.host, volumeId: id, path: volume.imagePath, reason: 'volume-delete' });
        return VolumeView.of({ ...volume, status: 'deleting' });
      }
      await finishVolumeDelete(catalog, volume);
      return VolumeView.of({ ...volume, status: 'deleted' });
    });
  }
}

/** The image is gone from the host (or never existed): drop the volume's references. */
export async function finishVolumeDelete(catalog: Catalog, volume: VolumeEntity): Promise<void> {
  await catalog.ledger.removeVolume(volume.id, volume.region);
  await catalog.volumes.markDeleted(volume.id);
  await catalog.jobs.finishRunning(volume.id, 'volume-delete');
}
