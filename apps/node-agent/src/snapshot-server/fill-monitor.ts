import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { ImageFilled, ImageFillFailed, ImageFillProgressed } from '@island/contracts';
import { IslandConfig } from '@island/config';
import { MessagePublisher } from '@island/messaging';
import { InjectConfig, MetricsService, PeriodicTask } from '@island/platform';
import { Qcow2Image } from '@island/qcow2';
import { StorageDaemon } from '../storage-daemon/storage-daemon';
import { VolumeLocks } from '../volume-locks';
import { FillSource } from './fill-registry';
import { FillRun } from './fill-run';
import { SnapshotServer } from './snapshot-server';

const POLL_MS = 1_000;
const PROGRESS_EVERY_MS = 2_000;
/** Passes started in a row without progress before the fill's failure is reported (a Swift outage longer than the retries of each read). */
const MAX_ATTEMPTS = 3;
const RETRY_AFTER_MS = 3_000;

/**
 * Fills this host's lazily restored volumes: while the storage daemon serves one through its copy-on-read filter, the
 * agent reads every block the snapshot holds through it (a `FillRun`), so that the filter copies what the guest has
 * not read yet; reports progress; starts a failed pass again a few times; and when a pass has read everything lets the
 * image go of its snapshot (`completeFill`) and reports the volume filled. Progress (the run's cursor) is kept in the
 * fill's record, so a restarted agent goes on where the last one stopped.
 */
@Injectable()
export class FillMonitor implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('FillMonitor');
  private readonly task = new PeriodicTask(
    () => this.poll(),
    (error) => this.logger.warn(`watching fills: ${error.message}`),
  );
  private readonly lastReported = new Map<string, { at: number; done: number }>();
  /** Passes running: `reads` settles when the pass stops reading, `ended` once its outcome is handled. */
  private readonly runs = new Map<string, { run: FillRun; reads: Promise<void>; ended: Promise<void> }>();
  private readonly retryAt = new Map<string, number>();
  /** Volumes whose exports change now: no pass starts for them. */
  private readonly paused = new Set<string>();

  constructor(
    @InjectConfig() private readonly config: IslandConfig,
    private readonly daemon: StorageDaemon,
    private readonly server: SnapshotServer,
    private readonly publisher: MessagePublisher,
    private readonly locks: VolumeLocks,
    private readonly metrics: MetricsService,
  ) {}

  onApplicationBootstrap(): void {
    this.task.start(POLL_MS);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.task.stop();
    for (const { run, ended } of this.runs.values()) {
      run.stop();
      await ended;
    }
  }

  async poll(): Promise<void> {
    const fills = await this.server.fills.all();
    for (const fill of fills) {
      const running = this.runs.get(fill.volumeId);
      if (running) {
        await this.progressed(fill, running.run);
        continue;
      }
      if (fill.failed || this.paused.has(fill.volumeId) || (this.retryAt.get(fill.volumeId) ?? 0) > Date.now()) continue;
      // a fill completed while no agent watched, before its record was removed
      if (await this.imageIsStandalone(fill)) {
        await this.locks.run(fill.volumeId, () => this.finish(fill));
        continue;
      }
      const target = await this.daemon.fillReadTarget(fill.volumeId);
      if (target) this.start(fill, new FillRun(fill, this.server.fills.mapPath(fill.volumeId), target));
      // else: not served by the daemon (not exported yet, or the daemon restarted): the next export opens it
    }
  }

  private start(fill: FillSource, run: FillRun): void {
    const from = run.cursor;
    const reads = run.run();
    const ended = reads
      .then(() => (run.finished ? this.locks.run(fill.volumeId, () => this.completed(fill)) : undefined))
      .catch((error: Error) => (run.stopped ? undefined : this.passFailed(fill, run, from, error)))
      .catch((error: Error) => this.logger.warn(`fill of volume ${fill.volumeId}: ${error.message}`))
      .finally(() => this.runs.delete(fill.volumeId));
    this.runs.set(fill.volumeId, { run, reads: reads.catch(() => undefined), ended });
  }

  private async progressed(fill: FillSource, run: FillRun): Promise<void> {
    const done = run.doneBytes;
    const total = fill.snapshotBytes;
    this.metrics
      .gauge('island_agent_fill_remaining_bytes', 'Bytes a lazily filled volume still lacks', ['volume'])
      .set({ volume: fill.volumeId }, total - done);
    const last = this.lastReported.get(fill.volumeId);
    if (last && (last.done === done || Date.now() - last.at < PROGRESS_EVERY_MS)) return;
    this.lastReported.set(fill.volumeId, { at: Date.now(), done });
    if (run.stopped || run.finished) return; // its record may be gone (deleted, or completed): not written again
    await this.server.fills.save({ ...fill, cursor: run.cursor, attempts: 0 });
    await this.publisher.publish(ImageFillProgressed, { host: this.config.host.name, volumeId: fill.volumeId, done, total });
  }

  /** A pass read every block: the image lets go of the snapshot. */
  private async completed(fill: FillSource): Promise<void> {
    if (!(await this.server.fills.get(fill.volumeId))) return; // deleted meanwhile
    await this.daemon.completeFill(fill.volumeId);
    await this.finish(fill);
  }

  private async passFailed(fill: FillSource, run: FillRun, from: number, error: Error): Promise<void> {
    const now = await this.server.fills.get(fill.volumeId);
    if (!now) return; // the volume was deleted: its exports went away under the run
    // a pass that moved on before failing (e.g. a detach closed the export it read) starts the count again
    const attempts = run.cursor > from ? 1 : now.attempts + 1;
    await this.server.fills.save({ ...now, cursor: run.cursor, attempts });
    if (attempts < MAX_ATTEMPTS) {
      this.retryAt.set(fill.volumeId, Date.now() + RETRY_AFTER_MS * attempts);
      this.logger.warn(`fill of volume ${fill.volumeId} stopped (${error.message}); starting it again shortly`);
      return;
    }
    const reason = `the volume could not be filled from its snapshot: ${(await this.server.lastReadError(fill.volumeId)) ?? error.message}`;
    this.logger.error(`volume ${fill.volumeId}: ${reason}`);
    await this.publisher.publish(ImageFillFailed, { host: this.config.host.name, volumeId: fill.volumeId, reason });
    await this.server.fills.save({ ...now, cursor: run.cursor, attempts: 0, failed: true });
  }

  /** The image holds every block and has no backing: the snapshot is let go, the volume reported filled. */
  private async finish(fill: FillSource): Promise<void> {
    // reported before the fill is forgotten: until the broker takes the report, the next poll finds the image standalone
    // and reports it again
    await this.publisher.publish(ImageFilled, { host: this.config.host.name, volumeId: fill.volumeId });
    await this.server.forget(fill.volumeId);
    await this.server.fills.remove(fill.volumeId);
    this.lastReported.delete(fill.volumeId);
    this.retryAt.delete(fill.volumeId);
    this.metrics.gauge('island_agent_fill_remaining_bytes', 'Bytes a lazily filled volume still lacks', ['volume']).set({ volume: fill.volumeId }, 0);
    this.logger.log(`volume ${fill.volumeId} is filled: its image no longer depends on the snapshot`);
  }

  /**
   * Runs `work` (an export added or removed, the volume deleted) with the volume's fill pass stopped — its reads hold
   * the export they go through — and none started meanwhile; the next poll starts a pass through what is there then.
   * Waits for the pass's reads in flight, not for its outcome, which takes the volume's lock the caller may hold.
   */
  async whilePaused<T>(volumeId: string, work: () => Promise<T>): Promise<T> {
    this.paused.add(volumeId);
    try {
      const running = this.runs.get(volumeId);
      if (running) {
        running.run.stop();
        await running.reads;
      }
      return await work();
    } finally {
      this.paused.delete(volumeId);
    }
  }

  /** A fill whose image no longer names a backing file (completed, its record not yet removed). */
  private async imageIsStandalone(fill: FillSource): Promise<boolean> {
    const image = await Qcow2Image.open(fill.imagePath).catch(() => undefined);
    if (!image) return false;
    try {
      return !image.info.backingFile;
    } finally {
      await image.close();
    }
  }
}
