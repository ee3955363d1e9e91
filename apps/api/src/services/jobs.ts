import { randomUUID } from 'node:crypto';
import { EntityManager } from 'typeorm';
import { JobEntity } from '@island/catalog';

export type JobKind = 'attach' | 'detach' | 'revert' | 'extend' | 'snapshot' | 'snapshot-copy' | 'volume-delete' | 'gc-run' | 'fsck' | 'catalog-rebuild';

/** A snapshot's own job: taking and uploading it, or copying it from another region. */
export function snapshotJobKind(s: { copyOf: string | null }): JobKind {
  return s.copyOf ? 'snapshot-copy' : 'snapshot';
}

/** Records the start of a long operation; its id travels in the jobs so events can finish it. */
export async function startJob(
  m: EntityManager,
  kind: JobKind,
  resource: { type: 'volume' | 'snapshot' | 'region'; id?: string; projectId: string | null },
  params: Record<string, unknown> = {},
): Promise<JobEntity> {
  const id = randomUUID();
  const job = m.getRepository(JobEntity).create({
    id,
    kind,
    projectId: resource.projectId,
    resourceType: resource.type,
    // an operation on a whole region is its own resource
    resourceId: resource.id ?? id,
    status: 'running',
    progress: 0,
    params,
    error: null,
    result: null,
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

export async function finishJob(m: EntityManager, id: string, outcome: { error?: string; result?: Record<string, unknown> } = {}): Promise<void> {
  await m.query(
    `UPDATE job SET status = $2, error = $3, result = $4::jsonb, progress = CASE WHEN $2 = 'succeeded' THEN 100 ELSE progress END,
            finished_at = now(), updated_at = now()
      WHERE id = $1 AND status = 'running'`,
    [id, outcome.error ? 'failed' : 'succeeded', outcome.error ?? null, outcome.result ? JSON.stringify(outcome.result) : null],
  );
}

export async function jobProgress(m: EntityManager, id: string, progress: number): Promise<void> {
  await m.query(`UPDATE job SET progress = $2, updated_at = now() WHERE id = $1 AND status = 'running'`, [id, progress]);
}
