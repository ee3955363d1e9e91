import { Injectable, Logger } from '@nestjs/common';
import { JOB_KINDS, JobKind } from '@island/catalog';
import { IslandConfig } from '@island/config';
import { CatalogRebuild, Fsck, GcRun, OperationFinishedEvent } from '@island/contracts';
import { InjectConfig } from '@island/platform';
import { Caller } from '../auth/caller';
import { OperationView, RunningOperationView, StartCatalogRebuildDto, StartFsckDto, StartGcRunDto } from '../dtos/operation.dto';
import { ConflictError, ForbiddenError, InvalidRequestError, NotFoundError } from '../errors/domain-errors';
import { UnitOfWork } from '../outbox/unit-of-work';
import { operationDeadlines } from '../state-machines/operation-deadlines';
import { assertUuid } from './visible-resources';

/** Operations the GC worker runs for an operator; their events finish them here. */
const STUCK_AFTER_SECONDS = 120;
const REGION_OPERATIONS: readonly JobKind[] = ['gc-run', 'fsck', 'catalog-rebuild', 'keys-rotate', 'key-shred'];

/** Operator operations on a whole region (GC run, fsck, catalog rebuild) and every operation's status. */
@Injectable()
export class OperationsService {
  private readonly logger = new Logger(OperationsService.name);

  constructor(
    @InjectConfig() private readonly config: IslandConfig,
    private readonly uow: UnitOfWork,
  ) {}

  async show(caller: Caller, id: string): Promise<OperationView> {
    assertUuid('operation', id);
    const job = await this.uow.read((catalog) => catalog.jobs.find(id));
    if (!job || (caller.scope !== undefined && job.projectId !== caller.scope)) throw new NotFoundError('operation', id);
    return OperationView.of(job);
  }

  /**
   * Running operations the caller may see (its project's; every one for the admin), least recently
   * progressing first; `stuck`: only those without progress for over two minutes (or their whole deadline
   * when it is shorter) — what an operator looks at before the sweeper ends them.
   */
  async listRunning(caller: Caller, o: { stuck: boolean }): Promise<RunningOperationView[]> {
    const deadlines = operationDeadlines(this.config.operations.deadlineOverrides);
    const jobs = o.stuck
      ? await this.uow.read((catalog) => catalog.jobs.idle(stuckAfter(deadlines), 200, caller.scope))
      : await this.uow.read((catalog) => catalog.jobs.listRunning(caller.scope));
    return jobs.map((job) => ({
      ...OperationView.of(job),
      idleSeconds: Math.max(0, Math.round((Date.now() - job.updatedAt.getTime()) / 1000)),
      deadlineSeconds: deadlines[job.kind],
    }));
  }

  async startGcRun(caller: Caller, dto: StartGcRunDto): Promise<OperationView> {
    const region = this.region(caller, dto.region);
    const graceSeconds = dto.graceSeconds ?? this.config.gc.graceSeconds;
    return this.uow.run(async (tx) => {
      const job = await tx.catalog.jobs.start('gc-run', { type: 'region', projectId: null }, { region, graceSeconds, dryRun: dto.dryRun ?? false });
      await tx.send(GcRun, { operationId: job.id, region, graceSeconds, dryRun: dto.dryRun ?? false });
      return OperationView.of(job);
    });
  }

  async startFsck(caller: Caller, dto: StartFsckDto): Promise<OperationView> {
    const region = this.region(caller, dto.region);
    return this.uow.run(async (tx) => {
      const params = {
        region,
        deep: dto.deep ?? false,
        repair: dto.repair ?? false,
        ...(dto.mibPerSecond !== undefined && { mibPerSecond: dto.mibPerSecond }),
      };
      const job = await tx.catalog.jobs.start('fsck', { type: 'region', projectId: null }, params);
      await tx.send(Fsck, { operationId: job.id, ...params });
      return OperationView.of(job);
    });
  }

  /** Only into a catalog that knows no volume of the region: a rebuild must not overlay live state. */
  async startCatalogRebuild(caller: Caller, dto: StartCatalogRebuildDto): Promise<OperationView> {
    const region = this.region(caller, dto.region);
    return this.uow.run(async (tx) => {
      const volumes = await tx.catalog.volumes.countInRegion(region);
      if (volumes > 0) {
        throw new ConflictError(`the catalog already holds ${volumes} volume(s) of region ${region}; a rebuild only fills an empty catalog`);
      }
      const acceptPlain = dto.acceptPlain ?? false;
      const job = await tx.catalog.jobs.start('catalog-rebuild', { type: 'region', projectId: null }, { region, acceptPlain });
      await tx.send(CatalogRebuild, { operationId: job.id, region, acceptPlain });
      return OperationView.of(job);
    });
  }

  async finished(e: OperationFinishedEvent): Promise<void> {
    await this.uow.run(async ({ catalog }) => {
      const job = await catalog.jobs.lock(e.operationId);
      if (job?.status !== 'running' || !REGION_OPERATIONS.includes(job.kind)) return;
      await catalog.jobs.finish(job.id, { result: e.result });
    });
  }

  /** A GC run, fsck, rebuild, rotation or shredding failed for good: its operation fails with the reason. */
  async failed(operationId: string, reason: string): Promise<void> {
    await this.uow.run(async ({ catalog }) => {
      const job = await catalog.jobs.lock(operationId);
      if (job?.status !== 'running' || !REGION_OPERATIONS.includes(job.kind)) return;
      this.logger.warn(`${job.kind} ${job.id} failed: ${reason}`);
      await catalog.jobs.finish(job.id, { error: reason });
    });
  }

  private region(caller: Caller, requested: string | undefined): string {
    if (!caller.admin) throw new ForbiddenError('GC, fsck and catalog rebuilds are for the admin token');
    const region = requested ?? this.config.region;
    if (!this.config.regions.some((r) => r.name === region)) throw new InvalidRequestError(`unknown region ${region}`);
    return region;
  }
}

/** When a running operation counts as stuck: two minutes without progress, or its whole deadline when shorter. */
function stuckAfter(deadlines: Record<JobKind, number>): Record<JobKind, number> {
  return Object.fromEntries(JOB_KINDS.map((k) => [k, Math.min(STUCK_AFTER_SECONDS, deadlines[k])])) as Record<JobKind, number>;
}
