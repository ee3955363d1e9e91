import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { mkdirSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { ProjectKeyService, RegionStores } from '@island/blockstore';
import { IslandConfig } from '@island/config';
import { InjectConfig, MetricsService } from '@island/platform';
import type { FillSourceSocket } from '../storage-daemon/storage-daemon';
import { FillRegistry, imageIsStandalone } from './fill-registry';
import { NbdServer } from './nbd-server';
import { ServedBlocks } from './served-blocks';
import { SnapshotExport } from './snapshot-export';

/**
 * Bytes of fetched blocks the server keeps across reads, all its exports together: however many volumes fill at once,
 * the agent holds this much of their blocks (plus what the GETs and replies in flight hold: the block memory budget and
 * the NBD connections bound those).
 */
const SERVED_BLOCK_BYTES = 32 * 1024 * 1024;

/**
 * The host's snapshot server: serves each volume that fills lazily its snapshot as a read-only NBD export named by
 * the volume's id, on a unix socket only root reaches (`<data dir>/snapshot-server/nbd.sock`). The storage daemon
 * reads the volume's missing blocks through it. An export exists only for a volume the API placed here from one of its
 * project's snapshots, and reads it with that project's keys. It restarts with the agent; the daemon's NBD client
 * reconnects, holding the guest's reads meanwhile.
 */
@Injectable()
export class SnapshotServer implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('SnapshotServer');
  readonly fills: FillRegistry;
  private readonly dir: string;
  private readonly server: NbdServer;
  private readonly exports = new Map<string, Promise<SnapshotExport>>();
  private readonly servedBlocks = new ServedBlocks(SERVED_BLOCK_BYTES);
  private markListening: () => void = () => undefined;
  /** Resolves once the server listens: a filling image's node connects to it as the daemon opens the image. */
  readonly listening = new Promise<void>((resolve) => (this.markListening = resolve));

  constructor(
    @InjectConfig() config: IslandConfig,
    private readonly stores: RegionStores,
    private readonly projectKeys: ProjectKeyService,
    private readonly metrics: MetricsService,
  ) {
    this.dir = join(config.host.dataDir, 'snapshot-server');
    this.fills = new FillRegistry(join(config.host.dataDir, 'fills'), (path, error) =>
      this.logger.error(`cannot read ${path}, its volume's fill is not watched: ${error.message}`),
    );
    this.server = new NbdServer(this.socketPath, (name) => this.exportOf(name));
  }

  get socketPath(): string {
    return join(this.dir, 'nbd.sock');
  }

  /**
   * Where the storage daemon reads the volume's missing blocks while it fills from a snapshot; undefined when it does
   * not, or its image holds them all already (filled while no agent watched: the fill monitor reports it).
   */
  async fillSourceOf(volumeId: string): Promise<FillSourceSocket | undefined> {
    const fill = await this.fills.get(volumeId);
    if (!fill || (await imageIsStandalone(fill.imagePath))) return undefined;
    return { socket: this.socketPath };
  }

  /** What a filling image names as its backing file. */
  backingUri(volumeId: string): string {
    return `nbd+unix:///${volumeId}?socket=${this.socketPath}`;
  }

  async onApplicationBootstrap(): Promise<void> {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    await this.server.listen();
    this.markListening();
    this.logger.log(`serving snapshots to filling volumes on ${this.socketPath}`);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.server.close();
    for (const volumeId of [...this.exports.keys()]) await this.forget(volumeId);
  }

  /** The last read of the volume's snapshot that failed, and why (the fill reports it). */
  async lastReadError(volumeId: string): Promise<string | undefined> {
    return (await this.exports.get(volumeId)?.catch(() => undefined))?.lastError;
  }

  /** Stops serving a volume (its fill ended, or it is deleted). */
  async forget(volumeId: string): Promise<void> {
    const served = this.exports.get(volumeId);
    this.exports.delete(volumeId);
    await (await served?.catch(() => undefined))?.close();
  }

  private async exportOf(volumeId: string): Promise<SnapshotExport | undefined> {
    if (!(await this.fills.get(volumeId))) return undefined;
    let served = this.exports.get(volumeId);
    if (!served) {
      served = this.openExport(volumeId);
      this.exports.set(volumeId, served);
      served.catch(() => this.exports.get(volumeId) === served && this.exports.delete(volumeId));
    }
    return served;
  }

  private async openExport(volumeId: string): Promise<SnapshotExport> {
    const source = await this.fills.get(volumeId);
    if (!source) throw new Error(`volume ${volumeId} no longer fills from a snapshot`);
    const store = await this.stores.store(source.region);
    const keys = await this.projectKeys.keysFor(source.projectId);
    const map = await open(this.fills.mapPath(volumeId), 'r');
    const fetched = this.metrics.counter('island_agent_fill_bytes_fetched_total', 'Bytes of snapshot blocks fetched from Swift for lazily filled volumes');
    return new SnapshotExport(source, map, store, keys, this.servedBlocks, (bytes) => fetched.inc(bytes));
  }
}
