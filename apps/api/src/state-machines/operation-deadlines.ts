import { DEFAULT_DEADLINE_SECONDS, JOB_KINDS, JobKind } from '@island/catalog';

/** The deadlines in force: the defaults, with the configured overrides (an unknown kind refuses the start). */
export function operationDeadlines(overrides: Readonly<Record<string, number>>): Record<JobKind, number> {
  const unknown = Object.keys(overrides).filter((k) => !(JOB_KINDS as readonly string[]).includes(k));
  if (unknown.length > 0) throw new Error(`ISLAND_OPERATION_DEADLINES names unknown operation kinds ${unknown.join(', ')} (known: ${JOB_KINDS.join(', ')})`);
  return { ...DEFAULT_DEADLINE_SECONDS, ...overrides } as Record<JobKind, number>;
}
