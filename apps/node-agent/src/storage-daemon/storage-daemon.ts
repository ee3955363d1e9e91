import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { execFile } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { IslandConfig } from '@island/config';
import { fuseMountPoints, InjectConfig, LOOP_DEVICE_LISTING, loopDeviceCandidates, loopDevicesIn } from '@island/platform';
import { directWritesAllowed } from '@island/qcow2';
import { BlockJobInfo, imageFileNode, QmpClient, QmpCommandError, storageDaemonEnvironment } from '@island/qmp';
import { VolumeRecords } from '../volume-records';
import { NbdFuseMount } from './nbd-fuse-mount';
import { pidFileProcess } from './pid-file';

const run = promisify(execFile);

/** QEMU limits node and job names to 31 characters: a kind letter and the first 30 hex digits of the volume's id. */
function qemuName(kind: 'v' | 's' | 'f', volumeId: string): string {
  return `${kind}${volumeId.replace(/-/g, '').slice(0, 30)}`;
}

/** The node of a volume's image. */
export function nodeName(volumeId: string): string {
  return qemuName('v', volumeId);
}

/** The node reading the snapshot a filling volume's missing blocks come from (the host's snapshot server, over NBD). */
function sourceNodeName(volumeId: string): string {
  return qemuName('s', volumeId);
}

/** The id of the stream job that fills a volume's image from its snapshot. */
export function fillJobId(volumeId: string): string {
  return qemuName('f', volumeId);
}

function isFillJobId(id: unknown): boolean {
  return typeof id === 'string' && id.startsWith(qemuName('f', ''));
}

/** Seconds the daemon keeps retrying a lost connection to the snapshot server (an agent restart) while reads wait. */
const SOURCE_RECONNECT_SECONDS = 120;

/** Where a filling image's missing blocks are served: the snapshot server's socket (the export is the volume's id). */
export interface FillSourceSocket {
  socket: string;
}

/** Binds `device` to `file`: undefined when done, else losetup's reason (e.g. bound meanwhile, or by another container). */
async function attachLoopDevice(device: string, file: string): Promise<string | undefined> {
  return run('losetup', [device, file]).then(
    () => undefined,
    (error: Error & { stderr?: string }) => error.stderr?.trim() || error.message,
  );
}

/**
 * The names of the daemon's block nodes, read from its block graph: `query-named-block-nodes` would crash the daemon
 * while a finished fill's source node waits to be deleted (see qmp-commands.ts).
 */
async function namedNodes(qmp: QmpClient): Promise<Set<string>> {
  const graph = await qmp.execute('x-debug-query-block-graph', {});
  return new Set(graph.nodes.filter((n) => n.type === 'block-driver' && n.name && !n.name.startsWith('#')).map((n) => n.name));
}

/** Closes those of the nodes the daemon has, in order (an image before the node backing it). */
async function deleteNodes(qmp: QmpClient, names: string[]): Promise<void> {
  const nodes = await namedNodes(qmp);
  for (const name of names) if (nodes.has(name)) await qmp.execute('blockdev-del', { 'node-name': name });
}

/** The id of a volume's raw-file (FUSE) export; its NBD export's id is the node name. */
function rawExportId(volumeId: string): string {
  return `${nodeName(volumeId)}-raw`;
}

export type ExportKind = 'nbd' | 'raw' | 'block';

/**
 * What the daemon was last asked to hold for a volume, kept on disk so that it is held again after the daemon stopped
 * (a host reboot, a crash): its image, served as `export` (with `device`, the loop device it had), or, with `export`
 * null, only while it fills from its snapshot (detached before the fill ended).
 */
export interface ServedVolume {
  volumeId: string;
  path: string;
  export: ExportKind | null;
  device?: string;
}

/** What the daemon held and served at one look (StorageDaemon.servingNow). */
export interface DaemonServing {
  holds(volumeId: string): boolean;
  serves(volumeId: string, kind: ExportKind): boolean;
}

/** Where the daemon serves a volume's image: an NBD URI, or the file showing its raw bytes (and a loop device over it). */
export type ExportedVolume = { nbd: string; raw?: undefined; device?: undefined } | { raw: string; device?: string; nbd?: undefined };

/**
 * The host's qemu-storage-daemon: one per host, so that one QMP `transaction` can snapshot several of its
 * volumes at one instant. It runs detached from the agent (its own session, a pid file): an agent that
 * stops or crashes leaves every VM's disk served, and the next agent reconnects to the same monitor.
 * Each exported volume is a qcow2 block node with a writable NBD export on the daemon's unix socket or, exported
 * as 'raw', a writable FUSE export: a regular file under `<data dir>/exports` whose bytes are the volume's, for
 * clients that open a path (a guest's QEMU, os-brick's local connector, cinder-backup); as 'block', also a loop
 * block device over that file (Nova's libvirt driver opens `local` volumes as block devices). The file of a volume
 * that still fills from its snapshot is served by nbdfuse from the volume's NBD export instead (NbdFuseMount).
 */
@Injectable()
export class StorageDaemon implements OnModuleDestroy {
  private readonly logger = new Logger('StorageDaemon');
  private readonly dir: string;
  private readonly exportsDir: string;
  private connecting?: Promise<QmpClient>;
  private starting?: Promise<QmpClient>;
  private qmp?: QmpClient;
  private readonly fillEndListeners = new Set<() => void>();
  /** Per directory of images: whether its file system allows O_DIRECT (asked once, said once in the log). */
  private readonly directIn = new Map<string, Promise<boolean>>();
  /** What the daemon holds for each volume, as it was asked (ServedVolumes holds it again when the daemon lost it). */
  readonly served: VolumeRecords<ServedVolume>;

  constructor(@InjectConfig() config: IslandConfig) {
    this.dir = join(config.host.dataDir, 'qsd');
    this.exportsDir = join(config.host.dataDir, 'exports');
    this.served = new VolumeRecords(join(this.dir, 'served'), (path, error) =>
      this.logger.error(`cannot read ${path}, its volume is not served again: ${error.message}`),
    );
  }

  get qmpSocket(): string {
    return join(this.dir, 'qmp.sock');
  }

  get nbdSocket(): string {
    return join(this.dir, 'nbd.sock');
  }

  /** Where a VM's NBD client connects for this volume. */
  nbdUri(volumeId: string): string {
    return `nbd+unix:///${volumeId}?socket=${this.nbdSocket}`;
  }

  /** The file that shows the volume's raw bytes while it is exported as 'raw'. */
  rawPath(volumeId: string): string {
    return join(this.exportsDir, `${volumeId}.raw`);
  }

  /**
   * True while the daemon has the volume's image open (it then owns the image: writes go through it): while it is
   * exported, and while it fills from its snapshot after a detach.
   */
  async holds(volumeId: string): Promise<boolean> {
    const qmp = await this.running();
    if (!qmp) return false;
    const nodes = await namedNodes(qmp);
    return nodes.has(nodeName(volumeId));
  }

  /**
   * Serves the image (idempotent): 'nbd', an NBD export; 'raw', a file showing its raw bytes (QEMU's FUSE export; one
   * or the other: it needs the resize permission an NBD export does not share), or, while the image fills, nbdfuse
   * over its NBD export. The daemon opens the image read-write and holds QEMU's image locks.
   */
  async export(volumeId: string, path: string, kind: ExportKind, fill?: FillSourceSocket): Promise<ExportedVolume> {
    const served = await this.open(volumeId, path, fill);
    // the loop device the volume had before the daemon stopped: its guest's configuration names it
    const device = (await this.served.get(volumeId))?.device;
    const exported = await this.addExports(volumeId, kind, fill, served, device);
    await this.served.save({ volumeId, path, export: kind, device: exported.device });
    return exported;
  }

  /**
   * Opens the image (idempotent; with `fill`, backed by its snapshot) and starts its fill. True when the daemon had it
   * open already.
   */
  private async open(volumeId: string, path: string, fill?: FillSourceSocket): Promise<boolean> {
    const qmp = await this.started();
    const node = nodeName(volumeId);
    const nodes = await namedNodes(qmp);
    const served = nodes.has(node);
    if (!served) {
      const backing = fill ? await this.addFillSource(qmp, volumeId, fill, nodes) : undefined;
      const file = imageFileNode(path, await this.directWritesIn(dirname(path)));
      await qmp.execute('blockdev-add', { driver: 'qcow2', 'node-name': node, file, discard: 'unmap', backing });
    }
    if (fill) await this.startFill(volumeId);
    return served;
  }

  private directWritesIn(dir: string): Promise<boolean> {
    let allowed = this.directIn.get(dir);
    if (!allowed) {
      allowed = directWritesAllowed(dir).then(
        (direct) => {
          this.logger.log(
            `images in ${dir} served ${direct ? 'past the page cache (O_DIRECT, cache.direct)' : 'through the page cache: its file system refuses O_DIRECT'}`,
          );
          return direct;
        },
        (error: Error) => {
          this.logger.warn(`images in ${dir} served through the page cache: whether its file system allows O_DIRECT is not known (${error.message})`);
          return false;
        },
      );
      this.directIn.set(dir, allowed);
    }
    return allowed;
  }

  /**
   * Holds a volume that no guest uses for its fill alone (detached while it filled, then the daemon stopped): the fill
   * goes on from where the image is, and ends like any other (FillMonitor).
   */
  async holdForFill(volumeId: string, path: string, fill: FillSourceSocket): Promise<void> {
    await this.open(volumeId, path, fill);
    await this.served.save({ volumeId, path, export: null });
  }

  /**
   * What the daemon serves now, read once for many volumes: `holds`, its image open; `serves`, served as `kind` (its
   * image open, its export there and, for 'raw' and 'block', its file mounted and served, with a loop device over it
   * for 'block').
   */
  async servingNow(): Promise<DaemonServing> {
    const qmp = await this.running();
    if (!qmp) return { holds: () => false, serves: () => false };
    const nodes = await namedNodes(qmp);
    const exports = new Set((await qmp.execute('query-block-exports', {})).map((e) => e.id));
    const { stdout } = await run('losetup', LOOP_DEVICE_LISTING);
    const looped = new Set(loopDevicesIn(stdout).map((loop) => loop.backingFile));
    const holds = (volumeId: string) => nodes.has(nodeName(volumeId));
    const serves = (volumeId: string, kind: ExportKind) => {
      if (!holds(volumeId)) return false;
      if (kind === 'nbd') return exports.has(nodeName(volumeId));
      if (!exports.has(rawExportId(volumeId)) && !this.fuseMount(volumeId).serving) return false;
      return kind === 'raw' || looped.has(this.rawPath(volumeId));
    };
    return { holds, serves };
  }

  private async addExports(volumeId: string, kind: ExportKind, fill: FillSourceSocket | undefined, served: boolean, device?: string): Promise<ExportedVolume> {
    const qmp = await this.started();
    const node = nodeName(volumeId);
    const exports = await qmp.execute('query-block-exports', {});
    if (kind === 'nbd') {
      await this.addNbdExport(qmp, volumeId, exports);
      return { nbd: this.nbdUri(volumeId) };
    }
    const raw = this.rawPath(volumeId);
    try {
      const mount = this.fuseMount(volumeId);
      if (!exports.some((e) => e.id === rawExportId(volumeId)) && !mount.serving) {
        mkdirSync(this.exportsDir, { recursive: true });
        if (mount.present || fuseMountPoints().has(raw)) {
          // its nbdfuse or the daemon serving it died: the file and any loop device over it answer nothing, they go
          // before a new mount
          await this.detachLoopDevices(raw);
          await mount.unmount();
        }
        if (fill || exports.some((e) => e.id === node)) {
          // QEMU's FUSE export would stall the daemon while a read waits for the snapshot, and needs the resize
          // permission the fill job (and an NBD export left from an earlier attach) does not share: nbdfuse serves
          // the file from the NBD export instead
          await this.addNbdExport(qmp, volumeId, exports);
          await mount.mount(this.nbdUri(volumeId));
        } else {
          // a FUSE export mounts over an existing regular file
          closeSync(openSync(raw, 'a', 0o600));
          await qmp.execute('block-export-add', { type: 'fuse', id: rawExportId(volumeId), 'node-name': node, mountpoint: raw, writable: true });
        }
      }
      if (kind === 'raw') return { raw };
      return { raw, device: await this.loopDevice(volumeId, raw, device) };
    } catch (error) {
      // half a new export would keep the image open in the daemon with nothing serving it: let it go. One that
      // was serving before this call (a guest's disk, asked again) stays as it was.
      if (!served) {
        await this.unexport(volumeId).catch((cleanup: Error) => this.logger.warn(`cleaning up the failed export of ${volumeId}: ${cleanup.message}`));
      }
      throw error;
    }
  }

  private async addNbdExport(qmp: QmpClient, volumeId: string, exports: { id: string }[]): Promise<void> {
    const node = nodeName(volumeId);
    if (exports.some((e) => e.id === node)) return;
    await qmp.execute('block-export-add', { type: 'nbd', id: node, 'node-name': node, name: volumeId, writable: true });
  }

  /** The nbdfuse mount that serves a filling volume's raw file (see NbdFuseMount). */
  private fuseMount(volumeId: string): NbdFuseMount {
    const base = join(this.exportsDir, volumeId);
    return new NbdFuseMount(this.rawPath(volumeId), `${base}.nbdfuse.pid`, `${base}.nbdfuse.log`);
  }

  /**
   * The loop device over a volume's file, attached now unless one is already (idempotent): `preferred` when it is free
   * (the device the volume had before the daemon stopped), else a free one that no other volume's record names — a
   * guest configured before a host reboot must never find another volume behind its device.
   */
  private async loopDevice(volumeId: string, file: string, preferred?: string): Promise<string> {
    const { stdout } = await run('losetup', LOOP_DEVICE_LISTING);
    const bound = loopDevicesIn(stdout);
    const existing = bound.find((loop) => loop.backingFile === file);
    if (existing) return existing.device;
    if (preferred && /^\/dev\/loop\d+$/.test(preferred)) {
      const refused = await attachLoopDevice(preferred, file);
      if (refused === undefined) return preferred;
      this.logger.warn(`${file} cannot have ${preferred} again (${refused}): it gets another loop device`);
    }
    const reserved = (await this.served.all()).filter((r) => r.volumeId !== volumeId && r.device).map((r) => r.device as string);
    const present = readdirSync('/dev').map((name) => `/dev/${name}`);
    const candidates = loopDeviceCandidates(
      present,
      bound.map((loop) => loop.device),
      reserved,
    );
    let refused: string | undefined;
    for (const device of candidates) {
      refused = await attachLoopDevice(device, file);
      if (refused === undefined) return device;
    }
    throw new Error(`no loop device could be attached to ${file} (tried ${candidates.join(', ')}; the last: ${refused})`);
  }

  private async loopDevicesOf(file: string): Promise<string[]> {
    const { stdout } = await run('losetup', LOOP_DEVICE_LISTING);
    return loopDevicesIn(stdout)
      .filter((loop) => loop.backingFile === file)
      .map((loop) => loop.device);
  }

  private async detachLoopDevices(file: string): Promise<void> {
    for (const device of await this.loopDevicesOf(file)) await run('losetup', ['--detach', device]);
  }

  /** The node reading the volume's snapshot from the snapshot server (kept from an earlier attempt if there is one). */
  private async addFillSource(qmp: QmpClient, volumeId: string, fill: FillSourceSocket, nodes: Set<string>): Promise<string> {
    const source = sourceNodeName(volumeId);
    if (!nodes.has(source)) {
      await qmp.execute('blockdev-add', {
        driver: 'nbd',
        'node-name': source,
        server: { type: 'unix', path: fill.socket },
        export: volumeId,
        'read-only': true,
        'reconnect-delay': SOURCE_RECONNECT_SECONDS,
      });
    }
    return source;
  }

  /**
   * Starts copying every block the image lacks from its snapshot (a `block-stream` job; idempotent). While it runs, a
   * guest read of a missing block is answered from the snapshot and kept (the job's copy-on-read); a block the guest
   * wrote is never copied over. When it ends the image no longer has a backing file.
   */
  async startFill(volumeId: string): Promise<void> {
    const qmp = await this.started();
    const job = await this.fillJob(volumeId);
    if (job && job.status !== 'concluded') return;
    if (job) await this.dismissFill(volumeId); // one that failed before (its failure was reported): a new attempt
    await qmp.execute('block-stream', {
      'job-id': fillJobId(volumeId),
      device: nodeName(volumeId),
      'auto-dismiss': false,
      'on-error': 'report',
    });
  }

  /** The volume's fill job as the daemon shows it, or undefined (none runs, or the daemon does not). */
  async fillJob(volumeId: string): Promise<BlockJobInfo | undefined> {
    return (await this.fillJobs()).get(fillJobId(volumeId));
  }

  /** Every fill job, by its id (fillJobId). */
  async fillJobs(): Promise<Map<string, BlockJobInfo>> {
    const qmp = await this.running();
    if (!qmp) return new Map();
    const jobs = await qmp.execute('query-block-jobs', {});
    return new Map(jobs.filter((j) => j.type === 'stream').map((j) => [j.device, j]));
  }

  /**
   * Calls `listener` each time a fill job ends, whether done or failed (QEMU's JOB_STATUS_CHANGE to `concluded`), on
   * this and every later monitor connection. Returns what stops it.
   */
  onFillConcluded(listener: () => void): () => void {
    this.fillEndListeners.add(listener);
    return () => this.fillEndListeners.delete(listener);
  }

  /** Forgets a fill job that ended (it stays listed until dismissed, so that an agent that was down sees how it ended). */
  async dismissFill(volumeId: string): Promise<void> {
    const qmp = await this.started();
    await qmp.execute('job-dismiss', { id: fillJobId(volumeId) });
  }

  /**
   * Stops a fill (the volume is deleted, or a point in time needs the node): waits for the job to end, then dismisses it.
   * True when it stopped a running job; false when there was none or it had ended (finished or failed) on its own, in
   * which case it is left for the fill monitor to report.
   */
  async cancelFill(volumeId: string): Promise<boolean> {
    const qmp = await this.running();
    const job = await this.fillJob(volumeId);
    if (!qmp || !job || job.status === 'concluded') return false;
    const ended = qmp.waitForEvent('JOB_STATUS_CHANGE', (d) => d.id === fillJobId(volumeId) && d.status === 'concluded');
    try {
      await qmp.execute('block-job-cancel', { device: fillJobId(volumeId), force: true });
    } catch (error) {
      ended.catch(() => undefined);
      // it ended between the look and the cancel
      if ((await this.fillJob(volumeId))?.status === 'concluded') return false;
      throw error;
    }
    await ended;
    await this.dismissFill(volumeId);
    return true;
  }

  /**
   * After a fill: the snapshot's node goes, and the image too unless it is exported (a volume detached while filling is
   * the agent's again).
   */
  async releaseFilled(volumeId: string): Promise<void> {
    const qmp = await this.running();
    if (!qmp) return;
    const exports = await qmp.execute('query-block-exports', {});
    const exported = exports.some((e) => e['node-name'] === nodeName(volumeId));
    await deleteNodes(qmp, exported ? [sourceNodeName(volumeId)] : [nodeName(volumeId), sourceNodeName(volumeId)]);
    if (!exported) await this.served.remove(volumeId);
  }

  /** Stops serving the volume (idempotent): waits until its exports are gone, then closes the image. */
  async unexport(volumeId: string): Promise<void> {
    // from here on nothing exports it again by itself, even if what follows fails and the detach is retried
    await this.holdOnlyForFill(volumeId);
    const qmp = await this.running();
    const mount = this.fuseMount(volumeId);
    // a loop device keeps the FUSE file busy: it goes first
    await this.detachLoopDevices(this.rawPath(volumeId));
    if (mount.present) await mount.unmount(); // QEMU's own FUSE export goes with block-export-del below
    rmSync(mount.logFile, { force: true });
    if (!qmp) {
      rmSync(this.rawPath(volumeId), { force: true });
      return; // whether it still fills is ServedVolumes' to find out
    }
    const node = nodeName(volumeId);
    const exports = await qmp.execute('query-block-exports', {});
    for (const id of [rawExportId(volumeId), node]) {
      if (!exports.some((e) => e.id === id)) continue;
      const deleted = qmp.waitForEvent('BLOCK_EXPORT_DELETED', (d) => d.id === id);
      await qmp.execute('block-export-del', { id });
      await deleted;
    }
    rmSync(this.rawPath(volumeId), { force: true });
    // a volume still filling stays open in the daemon until its fill ends (releaseFilled) or is cancelled
    if (await this.fillJob(volumeId)) return;
    await deleteNodes(qmp, [node, sourceNodeName(volumeId)]);
    await this.served.remove(volumeId);
  }

  private async holdOnlyForFill(volumeId: string): Promise<void> {
    const record = await this.served.get(volumeId);
    if (record) await this.served.save({ ...record, export: null, device: undefined });
  }

  /** Takes internal snapshots of exported volumes at one instant (one transaction), while writes go on. */
  async snapshot(points: { volumeId: string; name: string }[]): Promise<void> {
    const qmp = await this.started();
    await this.withFillsPaused(
      points.map((p) => p.volumeId),
      () =>
        qmp.execute('transaction', {
          actions: points.map((p) => ({ type: 'blockdev-snapshot-internal-sync' as const, data: { device: nodeName(p.volumeId), name: p.name } })),
        }),
    );
  }

  /**
   * Runs `work` with the volumes' fills stopped: QEMU takes and deletes internal snapshots only on a node no job uses.
   * A stopped fill keeps what it copied; started again, it skips that. A fill that ended on its own still uses the node
   * until its job is dismissed ("Need a root block node"): dismissed here, a finished one is reported by the fill
   * monitor from the image (no backing file left), and a failed one is started again like a stopped one.
   */
  private async withFillsPaused<T>(volumeIds: string[], work: () => Promise<T>): Promise<T> {
    const filling: string[] = [];
    const jobs = await this.fillJobs();
    for (const volumeId of volumeIds) {
      if (!jobs.has(fillJobId(volumeId))) continue; // most points in time: no fill to pause, one query for them all
      if (await this.cancelFill(volumeId)) {
        filling.push(volumeId);
        continue;
      }
      const ended = await this.fillJob(volumeId);
      if (ended?.status !== 'concluded') continue;
      await this.dismissFill(volumeId);
      if (ended.error) filling.push(volumeId);
    }
    try {
      return await work();
    } finally {
      for (const volumeId of filling) await this.startFill(volumeId);
    }
  }

  /** Deletes an internal snapshot through the daemon; one already gone is fine. */
  async deleteSnapshot(volumeId: string, name: string): Promise<void> {
    const qmp = await this.started();
    try {
      await this.withFillsPaused([volumeId], () => qmp.execute('blockdev-snapshot-delete-internal-sync', { device: nodeName(volumeId), name }));
    } catch (error) {
      if (error instanceof QmpCommandError && /not found|doesn't exist|does not exist/i.test(error.description)) return;
      throw error;
    }
  }

  onModuleDestroy(): void {
    // the daemon keeps serving: only our monitor connection goes
    this.qmp?.close();
  }

  /** The monitor of a running daemon, or undefined when none runs (nothing is exported then). */
  private async running(): Promise<QmpClient | undefined> {
    if (this.qmp?.isOpen) return this.qmp;
    if (!this.daemonAlive()) return undefined;
    return this.connect();
  }

  /** The monitor, starting the daemon first when none runs (one start at a time: jobs of other volumes wait for it). */
  private started(): Promise<QmpClient> {
    this.starting ??= this.startOnce().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  private async startOnce(): Promise<QmpClient> {
    const qmp = await this.running();
    if (qmp) return qmp;
    mkdirSync(this.dir, { recursive: true });
    this.logger.log(`starting qemu-storage-daemon (monitor ${this.qmpSocket}, NBD ${this.nbdSocket})`);
    await run(
      'qemu-storage-daemon',
      [
        '--chardev',
        `socket,id=qmp,path=${this.qmpSocket},server=on,wait=off`,
        '--monitor',
        'chardev=qmp',
        '--nbd-server',
        `addr.type=unix,addr.path=${this.nbdSocket}`,
        '--pidfile',
        join(this.dir, 'qsd.pid'),
        '--daemonize',
      ],
      { env: storageDaemonEnvironment() },
    );
    return this.connect();
  }

  private connect(): Promise<QmpClient> {
    this.connecting ??= QmpClient.connect(this.qmpSocket)
      .then((qmp) => {
        this.qmp = qmp;
        qmp.onEvent(({ event, data }) => {
          if (event !== 'JOB_STATUS_CHANGE' || data?.status !== 'concluded' || !isFillJobId(data.id)) return;
          for (const listener of this.fillEndListeners) listener();
        });
        return qmp;
      })
      .finally(() => {
        this.connecting = undefined;
      });
    return this.connecting;
  }

  /** The daemon's pid file counts only while its process is this host's daemon (see pidFileProcess). */
  private daemonAlive(): boolean {
    const pid = pidFileProcess(join(this.dir, 'qsd.pid'), (argv) => argv.some((arg) => arg.includes(this.qmpSocket)));
    return pid !== undefined && existsSync(this.qmpSocket);
  }
}
