import { randomUUID } from 'node:crypto';
import { EntityManager } from 'typeorm';
import { JobEntity } from '@island/catalog';

export type JobKind = 'attach' | 'revert' | 'snapshot' | 'volume-delete';

/** Records the start of a long operation; its id travels in the jobs so events can finish it. */
export async function startJob(
  m: EntityManager,
  kind: JobKind,
  resource: { type: 'volume' | 'snapshot'; id: string; projectId: string },
  params: Record<string, unknown> = {},
): Promise<JobEntity> {
  const job = m.getRepository(JobEntity).create({
    id: randomUUID(),
    kind,
    projectId: resource.projectId,
    resourceType: resource.type,
    resourceId: resource.id,
    status: 'running',
    progress: 0,
    params,
    error: null,
    finishedAt: null,
  });
  return m.getRepository(JobEntity).save(job);
}

export async function findJob(m: EntityManager, id: string): Promise<JobEntity | null> {
  return m.getRepository(JobEntity).findOne({ where: { id }, lock: { mode: 'pessimistic_write' } });
}

/** The running job of a kind on a resource (the latest), if any. */
export async function runningJob(m: EntityManager, resourceId: string, kind: JobKind): Promise<JobEntity | null> {
  return m.getRepository(JobEntity).findOne({
    where: { resourceId, kind, status: 'running' },
    order: { createdAt: 'DESC' },
    lock: { mode: 'pessimistic_write' },
  });
}

export async function finishJob(m: EntityManager, id: string, outcome: { error?: string } = {}): Promise<void> {
  await m.query(
    `UPDATE job SET status = $2, error = $3, progress = CASE WHEN $2 = 'succeeded' THEN 100 ELSE progress END,
            finished_at = now(), updated_at = now()
      WHERE id = $1 AND status = 'running'`,
    [id, outcome.error ? 'failed' : 'succeeded', outcome.error ?? null],
  );
}

export async function jobProgress(m: EntityManager, id: string, progress: number): Promise<void> {
  await m.query(`UPDATE job SET progress = $2, updated_at = now() WHERE id = $1 AND status = 'running'`, [id, progress]);
}
