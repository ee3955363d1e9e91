import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { Job, JobKind } from '@island/catalog';
import { IslandConfig } from '@island/config';
import { InjectConfig, MetricsService, PeriodicTask } from '@island/platform';
import { UnitOfWork } from '../outbox/unit-of-work';
import { OperationsService } from '../requests/operations.service';
import { operationDeadlines } from './operation-deadlines';
import { SnapshotPipeline } from './snapshot-pipeline';
import { VolumeLifecycle } from './volume-lifecycle';

/**
 * No operation without a deadline: operations that made no progress for longer than their kind allows are
 * ended the way a failure report would end them (the volume usable again, the snapshot failed), except a
 * snapshot waiting its turn (left alone) or sealing (its manifest write is asked for again: the snapshot is
 * committed, only its manifest is missing). Catches what no failure report covers: a message lost with a
 * broker's disk, an API handler that gave up, a worker that hangs.
 */
@Injectable()
export class OperationSweeper implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(OperationSweeper.name);
  private readonly deadlines: Record<JobKind, number>;
  private readonly task = new PeriodicTask(
    () => this.sweep(),
    (e) => this.logger.warn(`sweep: ${e.message}`),
  );

  constructor(
    @InjectConfig() private readonly config: IslandConfig,
    private readonly uow: UnitOfWork,
    private readonly snapshots: SnapshotPipeline,
    private readonly volumes: VolumeLifecycle,
    private readonly operations: OperationsService,
    private readonly metrics: MetricsService,
  ) {
    this.deadlines = operationDeadlines(config.operations.deadlineOverrides);
  }

  onApplicationBootstrap(): void {
    this.task.start(this.config.operations.sweepSeconds * 1000);
  }

  onApplicationShutdown(): Promise<void> {
    return this.task.stop();
  }

  /** One sweep; returns how many operations it ended or moved on. */
  async sweep(): Promise<number> {
    const stalled = await this.uow.read((catalog) => catalog.jobs.idle(this.deadlines));
    let ended = 0;
    for (const job of stalled) if (await this.end(job)) ended++;
    return ended;
  }

  /** Ends one stalled operation; false when it moved on since it was listed (e.g. an earlier one's end started it). */
  private async end(job: Job): Promise<boolean> {
    const current = await this.uow.read((catalog) => catalog.jobs.find(job.id));
    if (current?.status !== 'running' || current.updatedAt.getTime() !== job.updatedAt.getTime()) return false;
    const idleSeconds = Math.round((Date.now() - job.updatedAt.getTime()) / 1000);
    const reason = `no progress for ${idleSeconds} s (a ${job.kind} may go ${this.deadlines[job.kind]} s without; it was at ${Math.floor(job.progress)}%)`;
    switch (job.kind) {
      case 'snapshot':
      case 'snapshot-copy':
        await this.endSnapshot(job, reason);
        break;
      case 'gc-run':
      case 'fsck':
      case 'catalog-rebuild':
      case 'keys-rotate':
      case 'key-shred':
        await this.operations.failed(job.id, reason);
        break;
      default:
        await this.volumes.failed(job.resourceId, reason);
    }
    // whatever the resource's state, the operation itself ends
    await this.uow.run(async ({ catalog }) => {
      const still = await catalog.jobs.lock(job.id);
      if (still?.status === 'running' && still.updatedAt.getTime() === job.updatedAt.getTime()) await catalog.jobs.finish(job.id, { error: reason });
    });
    this.logger.warn(`${job.kind} ${job.id} of ${job.resourceType} ${job.resourceId}: ${reason}`);
    this.metrics
      .counter('island_operations_swept_total', 'Operations ended or moved on by the sweeper for making no progress', ['kind'])
      .inc({ kind: job.kind });
    return true;
  }

  private async endSnapshot(job: Job, reason: string): Promise<void> {
    const snapshot = await this.uow.read((catalog) => catalog.snapshots.find(job.resourceId));
    if (snapshot?.status === 'sealing') return this.snapshots.resendManifest(snapshot.id);
    if (snapshot?.status === 'pending') {
      // waiting for the volume's earlier snapshots, which have deadlines of their own
      await this.uow.run(({ catalog }) => catalog.jobs.progress(job.id, job.progress));
      return;
    }
    await this.snapshots.failed(job.resourceId, reason);
  }
}
