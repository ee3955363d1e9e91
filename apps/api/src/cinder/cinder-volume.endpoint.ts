import { Injectable } from '@nestjs/common';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { IN_FLIGHT_STATUSES } from '@island/catalog';
import { IslandConfig } from '@island/config';
import { RpcEndpoint } from '@island/oslo-rpc';
import { InjectConfig, injectedDelay } from '@island/platform';
import { Caller } from '../auth/caller';
import { HOST_OFFLINE_AFTER_MS } from '../dtos/host.dto';
import { SnapshotView } from '../dtos/snapshot.dto';
import { VolumeView } from '../dtos/volume.dto';
import { NotFoundError } from '../errors/domain-errors';
import { UnitOfWork } from '../outbox/unit-of-work';
import { SnapshotService } from '../requests/snapshot.service';
import { VolumeService } from '../requests/volume.service';
import { cinderMethod, CinderConnector, CinderSnapshot, CinderVolume, DeclaredMethod, dict, unread, wholeGib } from './cinder-args';
import { cinderErrors } from './cinder-errors';

/** The RPC API's version: 1.x requests up to this minor are served (see docs/cinder.md for what each added). */
export const CINDER_RPC_VERSION = '1.0';
const GIB = 1024 ** 3;
/** A call's wait asks the catalog after this long at first (a snapshot's point in time is taken in ~50 ms)... */
const FIRST_POLL_MS = 20;
/** ...then after a quarter of the time waited, at most this long (an attach may restore a volume for minutes). */
const MAX_POLL_MS = 1000;
/** How long a call waits for an operation it must see finish (attach, revert, extend, delete). */
const SETTLE_TIMEOUT_MS = 3600_000;
const ISLAND_VERSION = (JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;

const volume = dict(CinderVolume);
const snapshot = dict(CinderSnapshot);
const connector = dict(CinderConnector);

/**
 * Cinder's volume driver interface over oslo.messaging: each method takes the keyword arguments Cinder's
 * driver methods take (`volume`, `snapshot`, `src_vref`, `new_size`, `connector`, `refresh`) and does what
 * the REST API does, as the volume's project. Ids are Cinder's: the volume island keeps for Cinder volume X
 * is island volume X. Long operations return once the point in time is safe or the result is usable.
 */
@Injectable()
export class CinderVolumeEndpoint {
  constructor(
    @InjectConfig() private readonly config: IslandConfig,
    private readonly volumes: VolumeService,
    private readonly snapshots: SnapshotService,
    private readonly uow: UnitOfWork,
  ) {}

  endpoint(): RpcEndpoint {
    const methods: Record<string, DeclaredMethod> = {
      create_volume: cinderMethod({ required: { volume }, actingAs: 'volume', run: this.createVolume }),
      delete_volume: cinderMethod({ required: { volume }, actingAs: 'volume', run: this.deleteVolume }),
      create_snapshot: cinderMethod({ required: { snapshot }, actingAs: 'snapshot', run: this.createSnapshot }),
      delete_snapshot: cinderMethod({ required: { snapshot }, actingAs: 'snapshot', run: this.deleteSnapshot }),
      create_volume_from_snapshot: cinderMethod({ required: { volume, snapshot }, actingAs: 'volume', run: this.createVolumeFromSnapshot }),
      create_cloned_volume: cinderMethod({ required: { volume, src_vref: volume }, actingAs: 'volume', run: this.createClonedVolume }),
      extend_volume: cinderMethod({ required: { volume, new_size: wholeGib }, actingAs: 'volume', run: this.extendVolume }),
      initialize_connection: cinderMethod({ required: { volume, connector }, anyOther: true, actingAs: 'volume', run: this.initializeConnection }),
      terminate_connection: cinderMethod({
        required: { volume },
        optional: { connector: unread },
        anyOther: true,
        actingAs: 'volume',
        run: this.terminateConnection,
      }),
      revert_to_snapshot: cinderMethod({ required: { volume, snapshot }, actingAs: 'volume', run: this.revertToSnapshot }),
      get_volume_stats: cinderMethod({ required: {}, optional: { refresh: unread }, run: this.getVolumeStats }),
      get_volume: cinderMethod({ required: { volume }, actingAs: 'volume', run: this.getVolume }),
      get_snapshot: cinderMethod({ required: { snapshot }, actingAs: 'snapshot', run: this.getSnapshot }),
    };
    return {
      version: CINDER_RPC_VERSION,
      namespace: null,
      methods: Object.fromEntries(Object.entries(methods).map(([name, serve]) => [name, serve(name, this)])),
    };
  }

  private async createVolume({ volume }: { volume: CinderVolume }, caller: Caller): Promise<unknown> {
    const created = await this.volumes.create(caller, { sizeBytes: volume.size * GIB, name: displayName(volume) }, { id: volume.id, managedBy: 'cinder' });
    return this.modelUpdate(created);
  }

  /** Deleting a volume that is gone already succeeds, as Cinder expects of a retried delete. */
  private async deleteVolume({ volume }: { volume: CinderVolume }, caller: Caller): Promise<null> {
    try {
      await this.volumes.delete(caller, volume.id);
    } catch (error) {
      if (error instanceof NotFoundError) return null;
      throw error;
    }
    await this.settle(
      () => this.volumeOrGone(caller, volume.id),
      (v) => v === undefined,
      (v) => (v?.status === 'error' ? v.statusReason : undefined),
    );
    return null;
  }

  /** Returns once the point in time is safe on the host; the upload continues (get_snapshot shows it). */
  private async createSnapshot({ snapshot }: { snapshot: CinderSnapshot }, caller: Caller): Promise<unknown> {
    await this.snapshots.create(caller, { volumeId: snapshot.volume_id, name: displayName(snapshot) }, { id: snapshot.id });
    const taken = await this.settle(
      () => this.snapshots.show(caller, snapshot.id),
      (s) => s.status !== 'creating',
      (s) => (s.status === 'error' ? (s.statusReason ?? 'the snapshot failed') : undefined),
    );
    return { provider_location: `island://${taken.region}/snapshots/${taken.id}` };
  }

  /** A snapshot still uploading is deleted once it is stored; one that is gone already is fine. */
  private async deleteSnapshot({ snapshot }: { snapshot: CinderSnapshot }, caller: Caller): Promise<null> {
    try {
      await this.settle(
        () => this.snapshots.show(caller, snapshot.id),
        (s) => s.status === 'available' || s.status === 'error',
        () => undefined,
      );
      await this.snapshots.delete(caller, snapshot.id);
    } catch (error) {
      if (error instanceof NotFoundError) return null;
      throw error;
    }
    return null;
  }

  private async createVolumeFromSnapshot({ volume, snapshot }: { volume: CinderVolume; snapshot: CinderSnapshot }, caller: Caller): Promise<unknown> {
    await this.untilStored(caller, snapshot.id);
    const created = await this.volumes.create(
      caller,
      { sizeBytes: volume.size * GIB, name: displayName(volume), snapshotId: snapshot.id },
      { id: volume.id, managedBy: 'cinder' },
    );
    return this.modelUpdate(created);
  }

  /**
   * A clone is a volume created from a snapshot of the source taken for it, which is deleted right after:
   * the clone's own references keep every block it shares.
   */
  private async createClonedVolume({ volume, src_vref: source }: { volume: CinderVolume; src_vref: CinderVolume }, caller: Caller): Promise<unknown> {
    const existing = await this.volumeOrGone(caller, volume.id);
    if (existing) return this.modelUpdate(existing);
    const point = await this.snapshots.create(caller, { volumeId: source.id, name: `island-clone-for-${volume.id}` }, { transient: true });
    try {
      await this.untilStored(caller, point.id);
      const created = await this.volumes.create(
        caller,
        { sizeBytes: volume.size * GIB, name: displayName(volume), snapshotId: point.id },
        { id: volume.id, managedBy: 'cinder' },
      );
      return this.modelUpdate(created);
    } finally {
      await this.untilStored(caller, point.id).catch(() => undefined);
      await this.snapshots.deleteTransient(caller, point.id).catch(() => undefined);
    }
  }

  private async extendVolume({ volume, new_size }: { volume: CinderVolume; new_size: number }, caller: Caller): Promise<null> {
    const sizeBytes = new_size * GIB;
    await this.volumes.extend(caller, volume.id, sizeBytes);
    await this.settle(
      () => this.volumes.show(caller, volume.id),
      (v) => v.status !== 'extending',
      (v) => (v.status !== 'extending' && v.sizeBytes !== sizeBytes ? (v.statusReason ?? 'the extend failed') : undefined),
    );
    return null;
  }

  /**
   * The lazy create: the first attach places the image on the connector's host (restoring its content). By
   * default the host's storage daemon serves it and Cinder gets a `local` connection to a block device showing
   * the volume's raw bytes: a guest (Nova), os-brick and cinder-backup read and write the volume's data, and
   * island takes live snapshots through the daemon while they do (docs/cinder.md).
   */
  private async initializeConnection({ volume, connector }: { volume: CinderVolume; connector: CinderConnector }, caller: Caller): Promise<unknown> {
    const kind = connector.island_export ?? 'block';
    await this.volumes.attach(caller, volume.id, { host: connector.host, ...(kind !== 'file' && { export: kind }) });
    const attached = await this.settle(
      () => this.volumes.show(caller, volume.id),
      (v) => v.status === 'in-use',
      (v) => (v.status === 'available' || v.status === 'error' ? (v.statusReason ?? `volume is ${v.status}`) : undefined),
    );
    const common = { volume_id: volume.id, host: connector.host, access_mode: 'rw' };
    const connection = attached.connection;
    if (kind === 'nbd' && connection?.nbd) {
      const nbd = new URL(connection.nbd);
      return {
        driver_volume_type: 'nbd',
        data: { nbd_uri: connection.nbd, export_name: volume.id, socket_path: nbd.searchParams.get('socket'), format: 'raw', ...common },
      };
    }
    if (kind === 'block' && connection?.device) return { driver_volume_type: 'local', data: { device_path: connection.device, format: 'raw', ...common } };
    if (kind === 'raw' && connection?.raw && !connection.device)
      return { driver_volume_type: 'local', data: { device_path: connection.raw, format: 'raw', ...common } };
    if (kind === 'file' && connection && !connection.nbd && !connection.raw)
      return { driver_volume_type: 'local', data: { device_path: connection.path, format: 'qcow2', ...common } };
    throw cinderErrors.invalidVolume(`volume ${volume.id} is attached on ${connector.host} in another way than island_export '${kind}' asks; detach it first`);
  }

  private async terminateConnection({ volume }: { volume: CinderVolume }, caller: Caller): Promise<null> {
    const detached = await this.volumes.detach(caller, volume.id);
    if (detached.status === 'detaching') {
      // an export: the storage daemon lets the image go first
      await this.settle(
        () => this.volumes.show(caller, volume.id),
        (v) => v.status !== 'detaching',
        (v) => (v.status === 'error' ? (v.statusReason ?? 'volume is in error') : undefined),
      );
    }
    return null;
  }

  private async revertToSnapshot({ volume, snapshot }: { volume: CinderVolume; snapshot: CinderSnapshot }, caller: Caller): Promise<null> {
    await this.untilStored(caller, snapshot.id);
    // Cinder takes a temporary snapshot right before reverting (snapshot_revert_use_temp_snapshot): a revert
    // waits for the volume's snapshots in flight instead of refusing
    await this.settle(
      () => this.snapshots.ofVolume(caller, volume.id),
      (all) => !all.some((s) => IN_FLIGHT_STATUSES.includes(s.status)),
      () => undefined,
    );
    await this.volumes.revert(caller, volume.id, snapshot.id);
    await this.settle(
      () => this.volumes.show(caller, volume.id),
      (v) => v.status === 'available' && v.statusReason === null,
      (v) => (v.status === 'available' && v.statusReason !== null ? v.statusReason : undefined),
    );
    return null;
  }

  /**
   * Cinder's scheduler reads these keys. Capacity: the sum over the region's online hosts of what their data
   * directories' file systems report. Volume counts and provisioned size: only the volumes Cinder created
   * (island's own API may hold others; those are in the island_* keys).
   */
  private async getVolumeStats(): Promise<unknown> {
    await injectedDelay('rpc.get-volume-stats');
    const { hosts, volumes } = await this.uow.read(async (catalog) => ({
      hosts: await catalog.hosts.onlineCapacity(this.config.region, HOST_OFFLINE_AFTER_MS / 1000),
      volumes: await catalog.volumes.provisioned(this.config.region),
    }));
    const gib = (bytes: number) => Math.floor((bytes / GIB) * 100) / 100;
    return {
      volume_backend_name: this.config.rpc.backendName,
      vendor_name: 'island',
      storage_protocol: 'local',
      total_capacity_gb: gib(hosts.totalBytes),
      free_capacity_gb: gib(hosts.freeBytes),
      provisioned_capacity_gb: gib(volumes.cinderBytes),
      allocated_capacity_gb: gib(volumes.cinderBytes),
      total_volumes: volumes.cinderVolumes,
      reserved_percentage: 0,
      thin_provisioning_support: true,
      thick_provisioning_support: false,
      max_over_subscription_ratio: '20.0',
      multiattach: false,
      QoS_support: false,
      // the storage daemon serving an attached volume cannot grow it (docs/attached-volumes.md)
      online_extend_support: false,
      sparse_copy_volume: true,
      location_info: `island:${this.config.region}`,
      island_version: ISLAND_VERSION,
      island_online_hosts: hosts.hosts,
      island_largest_host_free_gb: gib(hosts.largestFreeBytes),
      island_total_volumes: volumes.allVolumes,
      island_provisioned_capacity_gb: gib(volumes.allBytes),
    };
  }

  /** Status of a volume as island sees it (e.g. after create_snapshot returned, how far the upload is). */
  private async getVolume({ volume }: { volume: CinderVolume }, caller: Caller): Promise<unknown> {
    return this.volumes.show(caller, volume.id);
  }

  private async getSnapshot({ snapshot }: { snapshot: CinderSnapshot }, caller: Caller): Promise<unknown> {
    return this.snapshots.show(caller, snapshot.id);
  }

  private modelUpdate(volume: VolumeView): Record<string, string> {
    return { provider_location: `island://${volume.region}/volumes/${volume.id}` };
  }

  private async untilStored(caller: Caller, snapshotId: string): Promise<SnapshotView> {
    return this.settle(
      () => this.snapshots.show(caller, snapshotId),
      (s) => s.status === 'available',
      (s) => (s.status === 'error' ? (s.statusReason ?? 'the snapshot failed') : undefined),
    );
  }

  private async volumeOrGone(caller: Caller, id: string): Promise<VolumeView | undefined> {
    try {
      return await this.volumes.show(caller, id);
    } catch (error) {
      if (error instanceof NotFoundError) return undefined;
      throw error;
    }
  }

  /** Polls until done; a failure reason ends the wait with VolumeBackendAPIException. */
  private async settle<T>(load: () => Promise<T>, done: (value: T) => boolean, failed: (value: T) => string | null | undefined): Promise<T> {
    const started = Date.now();
    const deadline = started + SETTLE_TIMEOUT_MS;
    for (;;) {
      const value = await load();
      if (done(value)) return value;
      const reason = failed(value);
      if (reason) throw cinderErrors.backend(reason);
      if (Date.now() > deadline) throw cinderErrors.backend('timed out waiting for the operation to finish');
      await new Promise((r) => setTimeout(r, settleDelay(Date.now() - started)));
    }
  }
}

/**
 * How long a call's wait sleeps before asking again, `waitedMs` into it: a wait overshoots the operation's end by at most a
 * quarter of its length, and a long one (a restore) reads the catalog about once a second instead of ten times.
 */
export function settleDelay(waitedMs: number): number {
  return Math.min(MAX_POLL_MS, Math.max(FIRST_POLL_MS, Math.round(waitedMs / 4)));
}

function displayName(resource: { display_name?: string | null; name?: string }): string {
  return resource.display_name ?? resource.name ?? '';
}
