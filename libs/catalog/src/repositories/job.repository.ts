import { randomUUID } from 'node:crypto';
import { EntityManager } from 'typeorm';
import { JobEntity } from '../entities/job.entity';
import { ExportKind } from '../entities/volume.entity';
import { preparedRows, sqlRows } from '../ledger/sql-rows';
import { entityByKey } from './entity-by-key';

/** What each kind of operation keeps for the events that finish it. */
export interface JobParamsByKind {
  /** `reattach`: asked again while attached (the agent re-checks the export). */
  attach: { export?: ExportKind; reattach?: boolean };
  detach: Record<string, never>;
  /** `pointInTime`: recorded once the restored image exists, taken as the volume's head when it is swapped in. */
  revert: { snapshotId: string; pointInTime?: string };
  /** `previousStatus`: the status the volume returns to, grown or not. */
  extend: { sizeBytes: number; previousStatus: 'available' | 'in-use' };
  snapshot: Record<string, never>;
  'snapshot-copy': { from: string; fromRegion: string; region: string };
  'volume-delete': Record<string, never>;
  'gc-run': { region: string; graceSeconds: number; dryRun: boolean };
  fsck: { region: string; deep: boolean; repair: boolean; mibPerSecond?: number };
  'catalog-rebuild': { region: string; acceptPlain: boolean };
  /** A KEK rotation: every project key re-wrapped by a new KEK, in the catalog and in Swift. */
  'keys-rotate': Record<string, never>;
  /** A project's key destroyed: all its snapshots become unreadable at once. */
  'key-shred': { projectId: string };
}
export type JobKind = keyof JobParamsByKind;
export const JOB_KINDS = [
  'attach',
  'detach',
  'revert',
  'extend',
  'snapshot',
  'snapshot-copy',
  'volume-delete',
  'gc-run',
  'fsck',
  'catalog-rebuild',
  'keys-rotate',
  'key-shred',
] as const satisfies readonly JobKind[];

/**
 * Seconds each kind of operation may go without progress (a state change, a progress report) before the API
 * ends it: a restore reports progress every second, an upload each part, a GC run each batch.
 */
export const DEFAULT_DEADLINE_SECONDS: Readonly<Record<JobKind, number>> = {
  attach: 15 * 60,
  detach: 5 * 60,
  revert: 15 * 60,
  extend: 10 * 60,
  snapshot: 20 * 60,
  'snapshot-copy': 30 * 60,
  'volume-delete': 10 * 60,
  'gc-run': 2 * 3600,
  fsck: 2 * 3600,
  'catalog-rebuild': 2 * 3600,
  'keys-rotate': 30 * 60,
  'key-shred': 10 * 60,
};

/** A job row whose params are typed by its kind (a union over kinds, narrowed by testing `kind`). */
export type Job<K extends JobKind = JobKind> = K extends JobKind ? Omit<JobEntity, 'kind' | 'params'> & { kind: K; params: JobParamsByKind[K] } : never;

export interface JobResource {
  type: 'volume' | 'snapshot' | 'region';
  /** Absent for an operation on a whole region, which is its own resource. */
  id?: string;
  projectId: string | null;
}

export interface JobOutcome {
  error?: string;
  result?: Record<string, unknown>;
}

/** Operations: one job row per long operation, what the CLI waits on and dashboards show. */
export class JobRepository {
  constructor(private readonly m: EntityManager) {}

  /** Records the start of a long operation; its id travels in the messages so events can finish it. */
  async start<K extends JobKind>(kind: K, resource: JobResource, params: JobParamsByKind[K]): Promise<Job<K>> {
    const id = randomUUID();
    const repo = this.m.getRepository(JobEntity);
    const job = await repo.save(
      repo.create({
        id,
        kind,
        projectId: resource.projectId,
        resourceType: resource.type,
        resourceId: resource.id ?? id,
        status: 'running',
        progress: 0,
        params,
        error: null,
        result: null,
        finishedAt: null,
      }),
    );
    return job as Job<K>;
  }

  find(id: string): Promise<Job | null> {
    return entityByKey(this.m, JobEntity, id) as Promise<Job | null>;
  }

  /** A job locked for the event that moves it on. */
  lock(id: string): Promise<Job | null> {
    return entityByKey(this.m, JobEntity, id, 'FOR UPDATE') as Promise<Job | null>;
  }

  /** A job of a kind, locked, when it is that kind (an event naming another kind's job finds nothing). */
  async lockOfKind<K extends JobKind>(id: string, kind: K): Promise<Job<K> | null> {
    const job = await this.lock(id);
    return job?.kind === kind ? (job as Job<K>) : null;
  }

  /** The running job of a kind on a resource (the latest), locked, if any. */
  running<K extends JobKind>(resourceId: string, kind: K): Promise<Job<K> | null> {
    return this.m.getRepository(JobEntity).findOne({
      where: { resourceId, kind, status: 'running' },
      order: { createdAt: 'DESC' },
      lock: { mode: 'pessimistic_write' },
    }) as Promise<Job<K> | null>;
  }

  /** Sets the progress of the running job of a kind on a resource (the latest), if any: `running` and `progress` in one round trip. */
  async progressRunning(resourceId: string, kind: JobKind, percent: number): Promise<void> {
    await preparedRows(
      this.m,
      'island_job_progress_running_v1',
      `UPDATE job SET progress = $3, updated_at = now()
        WHERE id = (SELECT id FROM job WHERE resource_id = $1 AND kind = $2 AND status = 'running' ORDER BY created_at DESC LIMIT 1 FOR UPDATE)`,
      [resourceId, kind, percent],
    );
  }

  async finish(id: string, outcome: JobOutcome = {}): Promise<void> {
    await this.m.query(
      `UPDATE job SET status = $2, error = $3, result = $4::jsonb, progress = CASE WHEN $2 = 'succeeded' THEN 100 ELSE progress END,
              finished_at = now(), updated_at = now()
        WHERE id = $1 AND status = 'running'`,
      [id, outcome.error ? 'failed' : 'succeeded', outcome.error ?? null, outcome.result ? JSON.stringify(outcome.result) : null],
    );
  }

  /** Finishes every running job of a kind on a resource. */
  async finishRunning(resourceId: string, kind: JobKind, outcome: JobOutcome = {}): Promise<void> {
    const running = await sqlRows<{ id: string }>(this.m, `SELECT id FROM job WHERE resource_id = $1 AND kind = $2 AND status = 'running'`, [resourceId, kind]);
    for (const { id } of running) await this.finish(id, outcome);
  }

  async progress(id: string, percent: number): Promise<void> {
    await this.m.query(`UPDATE job SET progress = $2, updated_at = now() WHERE id = $1 AND status = 'running'`, [id, percent]);
  }

  /** Running operations without progress for longer than `seconds[kind]` (of one project, with a scope), idlest first. */
  async idle(seconds: Readonly<Record<JobKind, number>>, limit = 100, scope?: string): Promise<Job[]> {
    const kinds = Object.keys(seconds);
    const ids = await sqlRows<{ id: string }>(
      this.m,
      `SELECT j.id FROM job j JOIN unnest($1::text[], $2::int[]) AS d(kind, secs) ON d.kind = j.kind
        WHERE j.status = 'running' AND j.updated_at < now() - make_interval(secs => d.secs) AND ($4::text IS NULL OR j.project_id = $4)
        ORDER BY j.updated_at LIMIT $3`,
      [kinds, kinds.map((k) => seconds[k as JobKind]), limit, scope ?? null],
    );
    if (ids.length === 0) return [];
    const jobs = await this.m.getRepository(JobEntity).find({ where: ids.map(({ id }) => ({ id })), order: { updatedAt: 'ASC' } });
    return jobs as Job[];
  }

  /** The running operations (of one project, with a scope), oldest activity first. */
  async listRunning(scope?: string, limit = 200): Promise<Job[]> {
    return (await this.m.getRepository(JobEntity).find({
      where: { status: 'running', ...(scope !== undefined && { projectId: scope }) },
      order: { updatedAt: 'ASC' },
      take: limit,
    })) as Job[];
  }

  /** The restored image of a revert exists: its point in time, and most of the work done. */
  async recordRevertRestored(id: string, pointInTime: string): Promise<void> {
    await this.m.query(`UPDATE job SET params = params || $2::jsonb, progress = 90, updated_at = now() WHERE id = $1 AND kind = 'revert'`, [
      id,
      JSON.stringify({ pointInTime } satisfies Partial<JobParamsByKind['revert']>),
    ]);
  }

  /** The volume a running revert is restoring this snapshot into, if any. */
  async revertingFrom(snapshotId: string): Promise<string | null> {
    const [revert] = await sqlRows<{ resource_id: string }>(
      this.m,
      `SELECT resource_id FROM job WHERE kind = 'revert' AND status = 'running' AND params->>'snapshotId' = $1 LIMIT 1`,
      [snapshotId],
    );
    return revert?.resource_id ?? null;
  }
}
