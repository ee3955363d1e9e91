import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { execFile } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { IslandConfig } from '@island/config';
import { InjectConfig } from '@island/platform';
import { QmpClient } from '../qmp/qmp-client';
import { QmpCommandError } from '../qmp/qmp-errors';

const run = promisify(execFile);

/** QEMU limits node names to 31 characters: a kind letter and the first 30 hex digits of the volume's id. */
function qemuName(kind: 'v' | 's' | 'c' | 'i', volumeId: string): string {
  return `${kind}${volumeId.replace(/-/g, '').slice(0, 30)}`;
}

/** The node of a volume's image (its qcow2 format node). */
export function nodeName(volumeId: string): string {
  return qemuName('v', volumeId);
}

/** The node reading the snapshot a filling volume's missing blocks come from (the host's snapshot server, over NBD). */
function sourceNodeName(volumeId: string): string {
  return qemuName('s', volumeId);
}

/**
 * The copy-on-read filter above a filling volume's image: a read of a block the image lacks is answered from the
 * snapshot and written into the image. Exports and points in time go through it while it is there.
 */
function fillFilterName(volumeId: string): string {
  return qemuName('c', volumeId);
}

/** The protocol node of a volume's image file. */
function fileNodeName(volumeId: string): string {
  return qemuName('i', volumeId);
}

/** The NBD export name through which the agent reads a filling volume that no guest export can be read through. */
export function fillExportName(volumeId: string): string {
  return `fill-${volumeId}`;
}

/** Seconds the daemon keeps retrying a lost connection to the snapshot server (an agent restart) while reads wait. */
const SOURCE_RECONNECT_SECONDS = 120;

/** Where a filling image's missing blocks are served: the snapshot server's socket (the export is the volume's id). */
export interface FillSourceSocket {
  socket: string;
}

/** The id of a volume's raw-file (FUSE) export; its NBD export's id is the node name. */
function rawExportId(volumeId: string): string {
  return `${nodeName(volumeId)}-raw`;
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
 * block device over that file (Nova's libvirt driver opens `local` volumes as block devices).
 */
@Injectable()
export class StorageDaemon implements OnModuleDestroy {
  private readonly logger = new Logger('StorageDaemon');
  private readonly dir: string;
  private readonly exportsDir: string;
  private connecting?: Promise<QmpClient>;
  private starting?: Promise<QmpClient>;
  private qmp?: QmpClient;

  constructor(@InjectConfig() config: IslandConfig) {
    this.dir = join(config.host.dataDir, 'qsd');
    this.exportsDir = join(config.host.dataDir, 'exports');
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
    const nodes = await qmp.execute('query-named-block-nodes', { flat: true });
    return nodes.some((n) => n['node-name'] === nodeName(volumeId));
  }

  /**
   * Serves the image (idempotent): 'nbd', an NBD export; 'raw', a file showing its raw bytes (one or the other:
   * QEMU's FUSE export needs the resize permission an NBD export does not share). The daemon opens the image
   * read-write and holds QEMU's image locks. A volume that fills from its snapshot (`fill`) is opened over that
   * snapshot (its backing) behind a copy-on-read filter, which the exports serve.
   */
  async export(volumeId: string, path: string, kind: 'nbd' | 'raw' | 'block', fill?: FillSourceSocket): Promise<ExportedVolume> {
    const qmp = await this.started();
    const node = nodeName(volumeId);
    const nodes = await qmp.execute('query-named-block-nodes', { flat: true });
    const served = nodes.some((n) => n['node-name'] === node);
    if (!served) {
      const backing = fill ? await this.addFillSource(qmp, volumeId, fill, nodes) : undefined;
      await qmp.execute('blockdev-add', {
        driver: 'qcow2',
        'node-name': node,
        file: { driver: 'file', filename: path, 'node-name': fileNodeName(volumeId) },
        discard: 'unmap',
        backing,
      });
      if (fill) await qmp.execute('blockdev-add', { driver: 'copy-on-read', 'node-name': fillFilterName(volumeId), file: node, discard: 'unmap' });
    }
    const top = await this.topNode(qmp, volumeId);
    const exports = await qmp.execute('query-block-exports', {});
    if (kind === 'nbd') {
      if (!exports.some((e) => e.id === node)) {
        await qmp.execute('block-export-add', { type: 'nbd', id: node, 'node-name': top, name: volumeId, writable: true });
      }
      return { nbd: this.nbdUri(volumeId) };
    }
    const raw = this.rawPath(volumeId);
    try {
      if (!exports.some((e) => e.id === rawExportId(volumeId))) {
        // the FUSE export needs the resize permission the agent's own NBD export of a filling volume does not share
        await this.removeExport(qmp, fillExportName(volumeId), exports);
        // a FUSE export mounts over an existing regular file
        mkdirSync(this.exportsDir, { recursive: true });
        closeSync(openSync(raw, 'a', 0o600));
        await qmp.execute('block-export-add', { type: 'fuse', id: rawExportId(volumeId), 'node-name': top, mountpoint: raw, writable: true });
      }
      if (kind === 'raw') return { raw };
      return { raw, device: await this.loopDevice(raw) };
    } catch (error) {
      // half a new export would keep the image open in the daemon with nothing serving it: let it go. One that
      // was serving before this call (a guest's disk, asked again) stays as it was.
      if (!served) {
        await this.unexport(volumeId).catch((cleanup: Error) => this.logger.warn(`cleaning up the failed export of ${volumeId}: ${cleanup.message}`));
      }
      throw error;
    }
  }

  /** The node exports and points in time use: the copy-on-read filter while the volume fills, else the image's node. */
  private async topNode(qmp: QmpClient, volumeId: string): Promise<string> {
    const nodes = await qmp.execute('query-named-block-nodes', { flat: true });
    return nodes.some((n) => n['node-name'] === fillFilterName(volumeId)) ? fillFilterName(volumeId) : nodeName(volumeId);
  }

  /** Removes an export and waits until it is gone; the agent's own fill export goes even while its reader is connected. */
  private async removeExport(qmp: QmpClient, id: string, exports: { id: string }[]): Promise<void> {
    if (!exports.some((e) => e.id === id)) return;
    const deleted = qmp.waitForEvent('BLOCK_EXPORT_DELETED', (d) => d.id === id);
    await qmp.execute('block-export-del', { id, ...(id.startsWith('fill-') && { mode: 'hard' as const }) });
    await deleted;
  }

  /** The loop device over a file, attached now unless one is already (idempotent). */
  private async loopDevice(file: string): Promise<string> {
    const [existing] = await this.loopDevicesOf(file);
    if (existing) return existing;
    const { stdout } = await run('losetup', ['--find', '--show', file]);
    return stdout.trim();
  }

  private async loopDevicesOf(file: string): Promise<string[]> {
    if (!existsSync(file)) return [];
    const { stdout } = await run('losetup', ['--associated', file, '--noheadings', '--output', 'NAME']);
    return stdout
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
  }

  /** The node reading the volume's snapshot from the snapshot server (kept from an earlier attempt if there is one). */
  private async addFillSource(qmp: QmpClient, volumeId: string, fill: FillSourceSocket, nodes: { 'node-name': string }[]): Promise<string> {
    const source = sourceNodeName(volumeId);
    if (!nodes.some((n) => n['node-name'] === source)) {
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

  /** True while the daemon has the volume open over its snapshot (its fill has not ended: completeFill closes the source). */
  async filling(volumeId: string): Promise<boolean> {
    const qmp = await this.running();
    if (!qmp) return false;
    const nodes = await qmp.execute('query-named-block-nodes', { flat: true });
    return nodes.some((n) => n['node-name'] === fillFilterName(volumeId)) && nodes.some((n) => n['node-name'] === sourceNodeName(volumeId));
  }

  /**
   * Where the agent reads a filling volume so that its copy-on-read filter copies what the image lacks: the guest's
   * FUSE file when there is one (an NBD export cannot be added beside it), else a read-only NBD export of the agent's
   * own (added now). Undefined when the daemon does not serve the volume.
   */
  async fillReadTarget(volumeId: string): Promise<{ file: string } | { socket: string; exportName: string } | undefined> {
    const qmp = await this.running();
    if (!qmp || !(await this.filling(volumeId))) return undefined;
    const exports = await qmp.execute('query-block-exports', {});
    if (exports.some((e) => e.id === rawExportId(volumeId))) return { file: this.rawPath(volumeId) };
    // never the guest's own NBD export: a detach must not wait for the agent's reads
    if (!exports.some((e) => e.id === fillExportName(volumeId))) {
      await qmp.execute('block-export-add', {
        type: 'nbd',
        id: fillExportName(volumeId),
        'node-name': fillFilterName(volumeId),
        name: fillExportName(volumeId),
        writable: false,
      });
    }
    return { socket: this.nbdSocket, exportName: fillExportName(volumeId) };
  }

  /**
   * Ends a fill that read every block: the image's header and node let go of the snapshot (it is an ordinary qcow2
   * from now on), the snapshot's node goes; the filter stays in the path of a served volume until its exports go (QEMU
   * 7.2 cannot take a node out from under an export), passing everything through. A detached volume is let go.
   */
  async completeFill(volumeId: string): Promise<void> {
    const qmp = await this.running();
    if (!qmp) return;
    const nodes = await qmp.execute('query-named-block-nodes', { flat: true });
    const image = nodes.find((n) => n['node-name'] === nodeName(volumeId));
    const filter = nodes.find((n) => n['node-name'] === fillFilterName(volumeId));
    if (image && filter && image.backing_file) {
      await qmp.execute('change-backing-file', { device: fillFilterName(volumeId), 'image-node-name': nodeName(volumeId), 'backing-file': '' });
      const file = nodes.find((n) => n.drv === 'file' && n.file === image.file)?.['node-name'] ?? fileNodeName(volumeId);
      await qmp.execute('blockdev-reopen', { options: [{ driver: 'qcow2', 'node-name': nodeName(volumeId), file, discard: 'unmap', backing: null }] });
    }
    if (nodes.some((n) => n['node-name'] === sourceNodeName(volumeId))) await qmp.execute('blockdev-del', { 'node-name': sourceNodeName(volumeId) });
    const exports = await qmp.execute('query-block-exports', {});
    await this.removeExport(qmp, fillExportName(volumeId), exports);
    if (!exports.some((e) => e.id === nodeName(volumeId) || e.id === rawExportId(volumeId))) await this.closeImage(qmp, volumeId);
  }

  /** Closes the volume's nodes in the daemon (filter, image, snapshot source), those that are open. */
  private async closeImage(qmp: QmpClient, volumeId: string): Promise<void> {
    const nodes = await qmp.execute('query-named-block-nodes', { flat: true });
    for (const name of [fillFilterName(volumeId), nodeName(volumeId), sourceNodeName(volumeId)]) {
      if (nodes.some((n) => n['node-name'] === name)) await qmp.execute('blockdev-del', { 'node-name': name });
    }
  }

  /** Lets go of a filling volume that is deleted: its exports, the agent's included, and its nodes. */
  async dropFill(volumeId: string): Promise<void> {
    const qmp = await this.running();
    if (!qmp) return;
    const exports = await qmp.execute('query-block-exports', {});
    for (const id of [fillExportName(volumeId), rawExportId(volumeId), nodeName(volumeId)]) await this.removeExport(qmp, id, exports);
    await this.closeImage(qmp, volumeId);
  }

  /**
   * Stops serving the volume (idempotent): waits until its exports are gone, then closes the image — unless it still
   * fills from its snapshot: then the daemon keeps it open and the agent goes on reading it through an NBD export of
   * its own until the fill ends (completeFill) or the volume is deleted (dropFill).
   */
  async unexport(volumeId: string): Promise<void> {
    const qmp = await this.running();
    if (!qmp) {
      rmSync(this.rawPath(volumeId), { force: true });
      return;
    }
    // a loop device keeps the FUSE file busy: it goes first
    for (const device of await this.loopDevicesOf(this.rawPath(volumeId))) await run('losetup', ['--detach', device]);
    const exports = await qmp.execute('query-block-exports', {});
    for (const id of [rawExportId(volumeId), nodeName(volumeId)]) await this.removeExport(qmp, id, exports);
    rmSync(this.rawPath(volumeId), { force: true });
    if (await this.filling(volumeId)) return;
    await this.closeImage(qmp, volumeId);
  }

  /** Takes internal snapshots of exported volumes at one instant (one transaction), while writes go on. */
  async snapshot(points: { volumeId: string; name: string }[]): Promise<void> {
    const qmp = await this.started();
    const devices = await Promise.all(points.map((p) => this.topNode(qmp, p.volumeId)));
    await qmp.execute('transaction', {
      actions: points.map((p, i) => ({ type: 'blockdev-snapshot-internal-sync' as const, data: { device: devices[i], name: p.name } })),
    });
  }

  /** Deletes an internal snapshot through the daemon; one already gone is fine. */
  async deleteSnapshot(volumeId: string, name: string): Promise<void> {
    const qmp = await this.started();
    try {
      await qmp.execute('blockdev-snapshot-delete-internal-sync', { device: await this.topNode(qmp, volumeId), name });
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
    // --daemonize: started without it (stderr kept in a log file), the daemon's FUSE exports stalled their detach in
    // the e2e suite; QEMU's own messages are then lost (it sends them to /dev/null)
    await run('qemu-storage-daemon', [
      '--chardev',
      `socket,id=qmp,path=${this.qmpSocket},server=on,wait=off`,
      '--monitor',
      'chardev=qmp',
      '--nbd-server',
      `addr.type=unix,addr.path=${this.nbdSocket}`,
      '--pidfile',
      join(this.dir, 'qsd.pid'),
      '--daemonize',
    ]);
    return this.connect();
  }

  private connect(): Promise<QmpClient> {
    this.connecting ??= QmpClient.connect(this.qmpSocket)
      .then((qmp) => {
        this.qmp = qmp;
        return qmp;
      })
      .finally(() => {
        this.connecting = undefined;
      });
    return this.connecting;
  }

  private daemonAlive(): boolean {
    const pidFile = join(this.dir, 'qsd.pid');
    if (!existsSync(pidFile)) return false;
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    try {
      process.kill(pid, 0);
      return existsSync(this.qmpSocket);
    } catch {
      return false;
    }
  }
}
