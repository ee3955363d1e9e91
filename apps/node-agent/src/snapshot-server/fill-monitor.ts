import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { ImageFilled, ImageFillFailed, ImageFillProgressed } from '@island/contracts';
import { IslandConfig } from '@island/config';
import { MessagePublisher } from '@island/messaging';
import { InjectConfig, MetricsService, PeriodicTask } from '@island/platform';
import { fillJobId, StorageDaemon } from '../storage-daemon/storage-daemon';
import { VolumeLocks } from '../volume-locks';
import { FillSource, imageIsStandalone } from './fill-registry';
import { SnapshotServer } from './snapshot-server';

const POLL_MS = 1_000;
const PROGRESS_EVERY_MS = 2_000;
/** Fill jobs started for one attach before its failure is reported (a Swift outage longer than the retries of each read). */
const MAX_ATTEMPTS = 3;
const RETRY_AFTER_MS = 3_000;

/**
 * Watches the fills of this host's volumes in the storage daemon (which runs them whether or not an agent runs): reports
 * progress, starts a failed fill again a few times, and when one ends lets go of the snapshot and reports the volume
 * filled. An agent that restarts picks up where the last one stopped: the jobs stay listed until dismissed here.
 */
@Injectable()
export class FillMonitor implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('FillMonitor');
  private readonly task = new PeriodicTask(
    () => this.poll(),
    (error) => this.logger.warn(`watching fills: ${error.message}`),
  );
  private readonly lastReported = new Map<string, { at: number; done: number }>();
  private readonly retryAt = new Map<string, number>();
  private stopWatchingEnds = (): void => undefined;

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
    // a fill that ends is handled at once rather than at the next poll
    this.stopWatchingEnds = this.daemon.onFillConcluded(() => this.task.runSoon());
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopWatchingEnds();
    await this.task.stop();
  }

  async poll(): Promise<void> {
    const fills = await this.server.fills.all();
    if (fills.length === 0) return;
    const jobs = await this.daemon.fillJobs();
    for (const fill of fills) {
      const job = jobs.get(fillJobId(fill.volumeId));
      if (!job) {
        if (await imageIsStandalone(fill.imagePath)) await this.locks.run(fill.volumeId, () => this.finish(fill));
        continue; // not exported yet, or the daemon restarted: ServedVolumes resumes it
      }
      if (job.status !== 'concluded') {
        await this.progressed(fill, job.offset, job.len);
        continue;
      }
      await this.locks.run(fill.volumeId, async () => {
        // seen again under the volume's lock: a point in time stops and restarts the fill while holding it
        const now = await this.daemon.fillJob(fill.volumeId);
        if (now?.status === 'concluded') await this.concluded(fill, now.error);
      });
    }
  }

  private async progressed(fill: FillSource, done: number, total: number): Promise<void> {
    this.metrics
      .gauge('island_agent_fill_remaining_bytes', 'Bytes a lazily filled volume still lacks', ['volume'])
      .set({ volume: fill.volumeId }, total - done);
    const last = this.lastReported.get(fill.volumeId);
    if (last && (last.done === done || Date.now() - last.at < PROGRESS_EVERY_MS)) return;
    this.lastReported.set(fill.volumeId, { at: Date.now(), done });
    await this.publisher.publish(ImageFillProgressed, { host: this.config.host.name, volumeId: fill.volumeId, done, total });
  }

  private async concluded(fill: FillSource, error: string | undefined): Promise<void> {
    if (!error) return this.finish(fill);
    const due = this.retryAt.get(fill.volumeId);
    if (fill.attempts + 1 < MAX_ATTEMPTS) {
      if (due === undefined) {
        this.retryAt.set(fill.volumeId, Date.now() + RETRY_AFTER_MS * (fill.attempts + 1));
        this.logger.warn(`fill of volume ${fill.volumeId} stopped (${error}); starting it again shortly`);
        return;
      }
      if (Date.now() < due) return;
      this.retryAt.delete(fill.volumeId);
      await this.server.fills.save({ ...fill, attempts: fill.attempts + 1 });
      await this.daemon.startFill(fill.volumeId);
      return;
    }
    const reason = `the volume could not be filled from its snapshot: ${(await this.server.lastReadError(fill.volumeId)) ?? error}`;
    this.logger.error(`volume ${fill.volumeId}: ${reason}`);
    // reported before the job is let go: a report the broker did not take is made again at the next poll
    await this.publisher.publish(ImageFillFailed, { host: this.config.host.name, volumeId: fill.volumeId, reason });
    await this.daemon.dismissFill(fill.volumeId);
    await this.server.fills.save({ ...fill, attempts: 0 });
  }

  /** The image holds every block: the snapshot is let go, the volume reported filled. */
  private async finish(fill: FillSource): Promise<void> {
    if (await this.daemon.fillJob(fill.volumeId)) await this.daemon.dismissFill(fill.volumeId);
    await this.daemon.releaseFilled(fill.volumeId);
    // reported before the fill is forgotten: until the broker takes the report, the next poll finds the image standalone
    // and reports it again
    await this.publisher.publish(ImageFilled, { host: this.config.host.name, volumeId: fill.volumeId });
    await this.server.forget(fill.volumeId);
    await this.server.fills.remove(fill.volumeId);
    this.lastReported.delete(fill.volumeId);
    this.metrics.gauge('island_agent_fill_remaining_bytes', 'Bytes a lazily filled volume still lacks', ['volume']).set({ volume: fill.volumeId }, 0);
    this.logger.log(`volume ${fill.volumeId} is filled: its image no longer depends on the snapshot`);
  }
}
