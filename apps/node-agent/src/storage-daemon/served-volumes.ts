import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { existsSync } from 'node:fs';
import { ImageServedAgain } from '@island/contracts';
import { IslandConfig } from '@island/config';
import { MessagePublisher } from '@island/messaging';
import { InjectConfig, PeriodicTask } from '@island/platform';
import { SnapshotServer } from '../snapshot-server/snapshot-server';
import { VolumeLocks } from '../volume-locks';
import { ExportedVolume, ExportKind, ServedVolume, StorageDaemon } from './storage-daemon';

/** How often the agent looks for volumes it should serve and does not. */
const CHECK_EVERY_MS = 5_000;

/** A volume that could not be served again waits this long before the next try, doubled after each failure. */
const RETRY_MAX_MS = 300_000;

/**
 * Keeps the host serving what it was asked to, whatever stopped it: after a host reboot, or the storage daemon killed
 * (OOM, kill -9), the daemon is started again and every volume exported on the host is exported again as it was (the
 * same NBD URI and file, the same loop device when it is free), its fill resumed where the image is; a volume detached
 * while it filled goes on filling; an nbdfuse that died under a 'raw' or 'block' export is mounted again. Looks at
 * start and every few seconds; each volume under its lock, so an export, detach or delete in flight wins. The API learns
 * where each volume is served now (ImageServedAgain), told again at each look until the broker takes it (at start
 * the agent may serve before its broker connection is up). One that fails (a damaged image, no loop device) is tried again
 * after a wait that doubles up to 5 minutes, each failure in the log.
 */
@Injectable()
export class ServedVolumes implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('ServedVolumes');
  private readonly task = new PeriodicTask(
    () => this.check(),
    (error) => this.logger.warn(`checking what this host serves: ${error.message}`),
  );

  /** Volumes whose last try failed: when the next one is due, and the wait after it fails again. */
  private readonly retries = new Map<string, { at: number; waitMs: number }>();

  /** Volumes served again whose ImageServedAgain the broker has not confirmed, with the export it names. */
  private readonly unannounced = new Map<string, { kind: ExportKind; served: ExportedVolume }>();

  constructor(
    @InjectConfig() private readonly config: IslandConfig,
    private readonly daemon: StorageDaemon,
    private readonly snapshots: SnapshotServer,
    private readonly locks: VolumeLocks,
    private readonly publisher: MessagePublisher,
  ) {}

  onApplicationBootstrap(): void {
    this.task.start(CHECK_EVERY_MS);
    // the first look once the snapshot server listens: resuming a fill connects the daemon to it at once
    void this.snapshots.listening.then(() => this.task.runSoon());
  }

  async onApplicationShutdown(): Promise<void> {
    await this.task.stop();
  }

  async check(): Promise<void> {
    const records = await this.daemon.served.all();
    for (const pending of [this.retries, this.unannounced]) {
      for (const volumeId of pending.keys()) if (!records.some((r) => r.volumeId === volumeId)) pending.delete(volumeId);
    }
    if (records.length === 0) return;
    const now = await this.daemon.servingNow();
    for (const record of records) {
      const { volumeId } = record;
      // a volume held for its fill alone is the fill monitor's while the daemon holds it
      if (record.export === null ? now.holds(volumeId) : now.serves(volumeId, record.export)) {
        this.retries.delete(volumeId);
        await this.announceAgain(volumeId);
        continue;
      }
      const retry = this.retries.get(volumeId);
      if (retry && retry.at > Date.now()) continue;
      let served: { kind: ExportKind; served: ExportedVolume } | undefined;
      try {
        served = await this.locks.run(volumeId, () => this.restore(volumeId));
        this.retries.delete(volumeId);
      } catch (error) {
        const waitMs = Math.min(RETRY_MAX_MS, retry ? retry.waitMs * 2 : CHECK_EVERY_MS);
        this.retries.set(volumeId, { at: Date.now() + waitMs, waitMs });
        this.logger.error(`volume ${volumeId} is not served as it should be (tried again in ${waitMs / 1000} s): ${(error as Error).message}`);
      }
      // outside the lock: a broker that is down must not hold up the volume's detach
      if (served) await this.announce(volumeId, served.kind, served.served);
    }
  }

  /** Tells the API where the volume is served now; kept for the next look unless the broker confirms it. */
  private async announce(volumeId: string, kind: ExportKind, served: ExportedVolume): Promise<void> {
    try {
      await this.publisher.publish(ImageServedAgain, { host: this.config.host.name, volumeId, ...served });
      this.unannounced.delete(volumeId);
    } catch (error) {
      this.unannounced.set(volumeId, { kind, served });
      this.logger.warn(`volume ${volumeId}: the API was not told where it is served now (${(error as Error).message}); told again at the next look`);
    }
  }

  /**
   * An announcement the broker did not take, while the volume's record still names that export: read again now, as
   * earlier volumes of the look may have taken long enough for a detach and another export (whose reply told the API).
   */
  private async announceAgain(volumeId: string): Promise<void> {
    const pending = this.unannounced.get(volumeId);
    if (!pending) return;
    const record = await this.daemon.served.get(volumeId);
    if (record?.export !== pending.kind || record.device !== pending.served.device) {
      this.unannounced.delete(volumeId);
      return;
    }
    await this.announce(volumeId, pending.kind, pending.served);
  }

  /**
   * Under the volume's lock, from its record as it is now (a detach or delete may have changed it since the look). Where
   * and as what it exports the volume again, if it did.
   */
  private async restore(volumeId: string): Promise<{ kind: ExportKind; served: ExportedVolume } | undefined> {
    const record = await this.daemon.served.get(volumeId);
    if (!record) return undefined;
    if (!existsSync(record.path)) {
      this.logger.error(`volume ${volumeId}: its image ${record.path} is gone, there is nothing to serve`);
      await this.daemon.served.remove(volumeId);
      return undefined;
    }
    if (record.export === null) {
      await this.resumeFill(record);
      return undefined;
    }
    const now = await this.daemon.servingNow();
    if (now.serves(volumeId, record.export)) return undefined;
    const held = now.holds(volumeId);
    // a fill the daemon still runs (or that ended) is the fill monitor's: only an image the daemon lost resumes its fill
    const fill = held ? undefined : await this.snapshots.fillSourceOf(volumeId);
    const served = await this.daemon.export(volumeId, record.path, record.export, fill);
    const where = served.nbd ?? `${served.raw}${served.device ? ` behind ${served.device}` : ''}`;
    const why = held ? 'its export had stopped' : 'the storage daemon had let it go';
    this.logger.warn(`volume ${volumeId} was not served (${why}): served again as ${where}${fill ? ', its fill resumed' : ''}`);
    if (record.device && served.device !== record.device) {
      this.logger.error(`volume ${volumeId} was behind ${record.device} and is now behind ${served.device}: its guest's configuration must change`);
    }
    return { kind: record.export, served };
  }

  /** A volume detached while it filled, which the daemon no longer holds: its fill goes on, unless it ended. */
  private async resumeFill(record: ServedVolume): Promise<void> {
    const fill = await this.snapshots.fillSourceOf(record.volumeId);
    if (!fill) {
      await this.daemon.served.remove(record.volumeId); // filled (the fill monitor reports it) or deleted
      return;
    }
    if (await this.daemon.holds(record.volumeId)) return;
    await this.daemon.holdForFill(record.volumeId, record.path, fill);
    this.logger.warn(`volume ${record.volumeId} was filling, detached, when the storage daemon let it go: its fill goes on`);
  }
}
