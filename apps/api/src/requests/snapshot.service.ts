import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { IslandConfig } from '@island/config';
import { GONE_STATUSES, NEW_SNAPSHOT_COUNTERS, SnapshotEntity, snapshotPointInTime, VolumeEntity } from '@island/catalog';
import { agentSupports, GroupPoint, SnapshotTake, SnapshotTakeGroup } from '@island/contracts';
import { InjectConfig, MetricsService } from '@island/platform';
import { Caller } from '../auth/caller';
import { CreateSnapshotDto, CreateSnapshotGroupDto, SnapshotGroupView, SnapshotListView, SnapshotView } from '../dtos/snapshot.dto';
import { ConflictError, ForbiddenError, InvalidRequestError, NotFoundError } from '../errors/domain-errors';
import { Tx, UnitOfWork } from '../outbox/unit-of-work';
import { SnapshotPipeline } from '../state-machines/snapshot-pipeline';
import { SnapshotCopyService } from './snapshot-copy.service';
import { deleteSnapshotInCatalog, purgeSnapshotInCatalog, SnapshotDeletion } from './snapshot-deletion';
import { pageRequest, unknownMarker } from './list-query';
import { reserveQuota } from './quota-check';
import { assertKeyNotShredded, assertUuid, findSnapshot, findVolume } from './visible-resources';

@Injectable()
export class SnapshotService {
  constructor(
    @InjectConfig() private readonly config: IslandConfig,
    private readonly uow: UnitOfWork,
    private readonly pipeline: SnapshotPipeline,
    private readonly metrics: MetricsService,
    private readonly copies: SnapshotCopyService,
  ) {}

  /**
   * Takes a snapshot. A placed volume's agent takes the point in time now (the snapshot is `pending` once
   * it is safe); its changed blocks upload after the volume's earlier snapshots. An unplaced volume's
   * content is its head already in Swift: the snapshot commits at once. `transient`: a snapshot island takes
   * for itself and deletes right after (a clone's): no quota counts it.
   */
  async create(caller: Caller, dto: CreateSnapshotDto, options: { id?: string; transient?: boolean } = {}): Promise<SnapshotView> {
    return this.uow.run(async (tx) => {
      const { catalog } = tx;
      if (options.id) {
        // Cinder's snapshot id: asking again for the same snapshot returns it
        const existing = await catalog.snapshots.find(options.id);
        if (existing && (existing.volumeId !== dto.volumeId || GONE_STATUSES.includes(existing.status))) {
          throw new ConflictError(`snapshot id ${options.id} is taken`);
        }
        if (existing) return SnapshotView.of(await findSnapshot(catalog, caller, existing.id));
      }
      const volume = await findVolume(catalog, caller, dto.volumeId, true);
      const diffWithTake = volume.host !== null && (await uploadsNext(tx, volume)) && (await agentTakesDiff(tx, volume.host));
      const snapshot = await this.newSnapshot(tx, volume, { id: options.id, name: dto.name, groupId: null, counted: !options.transient });
      if (snapshot.pointInTime) await tx.send(SnapshotTake, { host: volume.host!, ...takePoint(volume, snapshot, snapshot.pointInTime, diffWithTake) });
      return SnapshotView.of(await findSnapshot(catalog, caller, snapshot.id));
    });
  }

  /**
   * Snapshots several volumes at one instant (a consistency group): the placed ones must be on one host,
   * whose agent takes their points in time together (one QMP transaction for exported volumes); unplaced
   * ones are unchanging and commit at once. Every snapshot carries the group's id.
   */
  async createGroup(caller: Caller, dto: CreateSnapshotGroupDto): Promise<SnapshotGroupView> {
    return this.uow.run(async (tx) => {
      const { catalog } = tx;
      const ids = [...new Set(dto.volumeIds)].sort();
      if (ids.length !== dto.volumeIds.length) throw new InvalidRequestError('volumeIds lists a volume twice');
      const volumes: VolumeEntity[] = [];
      for (const id of ids) volumes.push(await findVolume(catalog, caller, id, true)); // locked in id order
      const hosts = [...new Set(volumes.filter((v) => v.host && v.imagePath).map((v) => v.host))];
      if (hosts.length > 1) throw new InvalidRequestError(`a group is taken on one host; these volumes live on ${hosts.join(', ')}`);
      const groupId = randomUUID();
      const agentDiffs = hosts.length > 0 && (await agentTakesDiff(tx, hosts[0]!));
      const points: GroupPoint[] = [];
      const snapshots: SnapshotEntity[] = [];
      for (const volume of volumes) {
        const diffWithTake = agentDiffs && (await uploadsNext(tx, volume));
        const snapshot = await this.newSnapshot(tx, volume, { name: dto.name, groupId });
        snapshots.push(snapshot);
        if (snapshot.pointInTime) points.push(takePoint(volume, snapshot, snapshot.pointInTime, diffWithTake));
      }
      if (points.length > 0) await tx.send(SnapshotTakeGroup, { host: hosts[0]!, points });
      const views = [];
      for (const s of snapshots) views.push(SnapshotView.of(await findSnapshot(catalog, caller, s.id)));
      return { groupId, snapshots: views };
    });
  }

  /**
   * A new snapshot row of a locked volume: a placed volume's waits for its point in time (`creating`; the
   * caller sends the take); an unplaced volume's content is its head, already in Swift: it commits now.
   */
  private async newSnapshot(
    tx: Tx,
    volume: VolumeEntity,
    o: { id?: string; name?: string; groupId: string | null; counted?: boolean },
  ): Promise<SnapshotEntity> {
    const { catalog } = tx;
    if (volume.status !== 'available' && volume.status !== 'in-use') {
      throw new ConflictError(`volume ${volume.id} is ${volume.status}; snapshots are taken of available or in-use volumes`);
    }
    await assertKeyNotShredded(catalog, volume.projectId);
    if (o.counted !== false) await reserveQuota(catalog, this.config, volume.projectId, { snapshots: 1 });
    const seq = await catalog.volumes.takeSeq(volume.id);
    const placed = volume.host !== null && volume.imagePath !== null;
    const snapshot = await catalog.snapshots.add({
      id: o.id ?? randomUUID(),
      volumeId: volume.id,
      projectId: volume.projectId,
      region: volume.region,
      seq,
      name: o.name ?? '',
      status: placed ? 'creating' : 'committing',
      statusReason: null,
      pointInTime: placed ? snapshotPointInTime(seq) : null,
      sizeBytes: volume.sizeBytes,
      blockSize: volume.blockSize,
      manifestObject: null,
      manifestSealed: false,
      ...NEW_SNAPSHOT_COUNTERS,
      copyOf: null,
      copiedFrom: null,
      copyTransfer: null,
      groupId: o.groupId,
      committedAt: null,
      deletedAt: null,
    });
    await catalog.jobs.start('snapshot', { type: 'snapshot', id: snapshot.id, projectId: snapshot.projectId }, {});
    if (!placed) await this.pipeline.commit(tx, snapshot, volume);
    return snapshot;
  }

  async show(caller: Caller, id: string): Promise<SnapshotView> {
    assertUuid('snapshot', id);
    const view = SnapshotView.of(await this.uow.read((catalog) => findSnapshot(catalog, caller, id)));
    return { ...view, regions: await this.copies.placements(id) };
  }

  /** Every snapshot people see of a volume the caller sees, oldest first. */
  async ofVolume(caller: Caller, volumeId: string): Promise<SnapshotView[]> {
    assertUuid('volume', volumeId);
    const snapshots = await this.uow.read(async (catalog) => {
      await findVolume(catalog, caller, volumeId);
      return catalog.snapshots.ofVolume(volumeId);
    });
    return snapshots.map((s) => SnapshotView.of(s));
  }

  /** A page of the caller's snapshots (every project's for the admin), of one volume if given; `deleted`: the recycle bin. */
  async list(caller: Caller, query: { volumeId?: string; deleted: boolean; marker?: string; limit?: string }): Promise<SnapshotListView> {
    const { volumeId, deleted } = query;
    if (volumeId) assertUuid('volume', volumeId);
    const request = pageRequest('snapshot', query);
    const page = await this.uow.read(async (catalog) => {
      if (volumeId) await findVolume(catalog, caller, volumeId);
      return catalog.snapshots.page(caller.scope, { volumeId, recycled: deleted }, request);
    });
    if (!page) throw unknownMarker('snapshot', request.marker, deleted ? 'in the recycle bin of this project' : undefined);
    return { snapshots: page.items.map((s) => SnapshotView.of(s)), nextMarker: page.nextMarker };
  }

  /**
   * Deletes a snapshot, any of them in any order. When the project keeps deleted snapshots (a retention, see
   * snapshotRetentionSeconds) it goes to the recycle bin: gone for every request but `list --deleted`, `undelete`
   * and the admin's purge, its blocks kept until the purge. Otherwise — or with `purge` (the admin; also a snapshot
   * already in the bin) — the block versions only it could see lose their references at once (work proportional
   * to what changed around it); GC removes the blocks left without references and, once no volume's content still
   * points at it, the manifest. A snapshot still being made cannot be deleted until it is available or has failed,
   * nor one a revert is restoring right now.
   */
  delete(caller: Caller, id: string, o: SnapshotDeletion = {}): Promise<SnapshotView> {
    if (o.purge && !caller.admin)
      throw new ForbiddenError('purging a snapshot at once needs the admin role; a delete keeps it in the recycle bin for its retention');
    return this.remove(caller, id, o);
  }

  /** Deletes a snapshot island took for itself (a clone's): never kept in the recycle bin. */
  deleteTransient(caller: Caller, id: string): Promise<SnapshotView> {
    return this.remove(caller, id, { purge: true });
  }

  private remove(caller: Caller, id: string, o: SnapshotDeletion): Promise<SnapshotView> {
    assertUuid('snapshot', id);
    return this.uow.run(async ({ catalog }) => {
      const lookup = { scope: caller.scope, recycled: o.purge };
      const found = await catalog.snapshots.visible(id, lookup);
      if (!found) throw new NotFoundError('snapshot', id);
      await catalog.volumes.lockRow(found.volumeId); // every writer locks volume → snapshot
      const snapshot = await catalog.snapshots.visible(id, { ...lookup, lock: true });
      if (!snapshot) throw new NotFoundError('snapshot', id); // deleted meanwhile
      if (snapshot.status === 'recycled') await purgeSnapshotInCatalog(catalog, snapshot, this.metrics);
      else await deleteSnapshotInCatalog(catalog, this.config, snapshot, this.metrics, o);
      await catalog.copies.retireEmptyReplica(snapshot.volumeId);
      return SnapshotView.of(await catalog.snapshots.get(id));
    });
  }

  /**
   * Takes a snapshot out of the recycle bin: available again, with the block versions and manifest it kept, so it
   * restores as before. A live snapshot is refused (409); a purged or unknown one is not found (404).
   */
  async undelete(caller: Caller, id: string): Promise<SnapshotView> {
    assertUuid('snapshot', id);
    return this.uow.run(async ({ catalog }) => {
      const live = await catalog.snapshots.visible(id, { scope: caller.scope });
      if (live)
        throw new ConflictError(`snapshot ${id} is ${live.status}, not in the recycle bin; only a deleted snapshot kept for its retention can be undeleted`);
      const found = await catalog.snapshots.recycled(id, { scope: caller.scope });
      if (!found) throw new NotFoundError('snapshot', id);
      await catalog.volumes.lockRow(found.volumeId); // every writer locks volume → snapshot
      const snapshot = await catalog.snapshots.recycled(id, { scope: caller.scope, lock: true });
      if (!snapshot) throw new NotFoundError('snapshot', id); // purged meanwhile
      await catalog.snapshots.markUndeleted(id);
      this.metrics.counter('island_snapshots_undeleted_total', 'Snapshots taken back out of the recycle bin').inc();
      return SnapshotView.of(await catalog.snapshots.get(id));
    });
  }
}

/**
 * Whether a new snapshot of the volume, asked for now, uploads next (none of the volume's snapshots is still to upload):
 * its take may then bring the diff against the volume's head as it stands. Asked before the snapshot is added.
 */
async function uploadsNext(tx: Tx, volume: VolumeEntity): Promise<boolean> {
  return (await tx.catalog.snapshots.countInFlight(volume.id)) === 0;
}

/** Whether the host's agent accepts a take that brings its diff (an agent not yet upgraded refuses one). */
async function agentTakesDiff(tx: Tx, hostName: string): Promise<boolean> {
  const host = await tx.catalog.hosts.byName(hostName);
  return agentSupports(host?.agentVersion, 'takeWithDiff');
}

/** What a placed volume's agent is asked to take for its new snapshot; with the diff against the volume's head when asked for. */
function takePoint(volume: VolumeEntity, snapshot: SnapshotEntity, pointInTime: string, withDiff: boolean): GroupPoint {
  return {
    snapshotId: snapshot.id,
    volumeId: volume.id,
    path: volume.imagePath!,
    pointInTime,
    ...(withDiff && { diff: { base: volume.pointInTime, blockSize: snapshot.blockSize } }),
  };
}
