import { Injectable, Logger } from '@nestjs/common';
import { Catalog, IN_FLIGHT_STATUSES, JOB_KINDS } from '@island/catalog';
import { Caller } from '../auth/caller';
import { HOST_OFFLINE_AFTER_MS } from '../dtos/host.dto';
import { VolumeView } from '../dtos/volume.dto';
import { ConflictError, ForbiddenError, InvalidRequestError } from '../errors/domain-errors';
import { UnitOfWork } from '../outbox/unit-of-work';
import { SnapshotPipeline } from '../state-machines/snapshot-pipeline';
import { assertUuid, findVolume } from './visible-resources';
import { VolumeService } from './volume.service';

/** A host counts as lost, for an evacuation, once its agent has been silent this long. */
export const EVACUATE_AFTER_OFFLINE_MS = 10 * HOST_OFFLINE_AFTER_MS;

/**
 * Recreates a volume whose host is lost on another host, from its last committed content in Swift: what was
 * written after the last snapshot is gone with the host, and the volume says which snapshot it came back as.
 */
@Injectable()
export class VolumeEvacuationService {
  private readonly logger = new Logger(VolumeEvacuationService.name);

  constructor(
    private readonly uow: UnitOfWork,
    private readonly volumes: VolumeService,
    private readonly snapshots: SnapshotPipeline,
  ) {}

  async evacuate(caller: Caller, id: string, targetHost: string): Promise<VolumeView> {
    if (!caller.admin) throw new ForbiddenError('evacuating a volume from a lost host is for the admin');
    assertUuid('volume', id);
    const inFlight = await this.uow.read(async (catalog) => {
      const volume = await findVolume(catalog, caller, id);
      await this.assertHostLost(volume.host, volume.id, targetHost, catalog);
      return (await catalog.snapshots.ofVolume(id)).filter((s) => IN_FLIGHT_STATUSES.includes(s.status));
    });
    // their points in time were on the lost host
    for (const s of inFlight) await this.snapshots.failed(s.id, `host lost before the snapshot was uploaded (volume evacuated to ${targetHost})`);
    const reason = await this.uow.run(async ({ catalog }) => {
      const volume = await findVolume(catalog, caller, id, true);
      const lostHost = await this.assertHostLost(volume.host, volume.id, targetHost, catalog);
      if (!volume.headSnapshotId) throw new ConflictError(`volume ${id} has no committed snapshot: there is nothing to recreate it from`);
      const head = await catalog.snapshots.get(volume.headSnapshotId);
      const since = lostHost.lastSeenAt.toISOString();
      const reason = `evacuated from host ${lostHost.name} (silent since ${since}): content of snapshot ${head.id} (seq ${head.seq}, committed ${head.committedAt?.toISOString() ?? 'earlier'}); writes after it were on the lost host`;
      for (const kind of JOB_KINDS) await catalog.jobs.finishRunning(volume.id, kind, { error: `host ${lostHost.name} lost; the volume was evacuated` });
      await catalog.volumes.unplace(volume.id, reason);
      this.logger.warn(`volume ${volume.id}: ${reason}`);
      return reason;
    });
    // placed anew like any unplaced volume: restored on the target host from that snapshot; the volume says what it
    // came back as until the attach ends (the answer says it too)
    const attaching = await this.volumes.attach(caller, id, { host: targetHost });
    await this.uow.run(async ({ catalog }) => {
      const volume = await catalog.volumes.lock(id);
      if (volume?.status === 'attaching' && volume.statusReason === null) await catalog.volumes.setStatus(id, 'attaching', reason);
    });
    return { ...attaching, statusReason: reason };
  }

  private async assertHostLost(host: string | null, volumeId: string, targetHost: string, catalog: Catalog) {
    if (!host) throw new ConflictError(`volume ${volumeId} is on no host; attach it where it is wanted`);
    if (host === targetHost) throw new InvalidRequestError(`volume ${volumeId} is on ${host} already; evacuate it to another host`);
    const lost = await catalog.hosts.byName(host);
    if (lost && Date.now() - lost.lastSeenAt.getTime() < EVACUATE_AFTER_OFFLINE_MS) {
      throw new ConflictError(
        `host ${host} was seen ${Math.round((Date.now() - lost.lastSeenAt.getTime()) / 1000)} s ago; a volume is evacuated once its host has been silent for ${EVACUATE_AFTER_OFFLINE_MS / 1000} s`,
      );
    }
    return lost ?? { name: host, lastSeenAt: new Date(0) };
  }
}
