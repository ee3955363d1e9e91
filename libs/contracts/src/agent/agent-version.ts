import { contractKey } from '../contract';

/**
 * The node agent's version, as its heartbeat reports it and the API records it on the host. What the API may ask
 * of an agent depends on it: kept equal to apps/node-agent/package.json's version (a spec checks).
 */
export const AGENT_VERSION = '0.2.0';

/** Something an agent accepts from a version on, which an earlier agent refuses. */
export interface AgentFeatureDefinition {
  /** The first agent version that accepts it. */
  readonly since: string;
  /**
   * The job fields it adds, each as `<contract key> <field>` (a nested field as `diff.base`), or a job a new contract
   * key names alone. agent-job-fields.spec.ts checks that every field an earlier release refuses is listed here.
   */
  readonly fields: readonly string[];
}

/**
 * What agents accept from a version on. An earlier agent refuses a job that carries such a field (contracts refuse
 * fields they do not know), so the API sends it only to hosts whose agent reported at least `since`: during a rolling
 * upgrade, hosts not yet upgraded get the jobs they understand.
 */
export const AGENT_FEATURES = {
  /** The agent diffs right after the take and reports the changed blocks with it. */
  takeWithDiff: { since: '0.2.0', fields: ['snapshot.take.v1 diff', 'snapshot.take-group.v1 points.diff'] },
} as const satisfies Record<string, AgentFeatureDefinition>;

export type AgentFeature = keyof typeof AGENT_FEATURES;

/**
 * Fields the agent adds to the events it publishes since 0.1.0, each sent only in answer to a job that used the feature
 * named: only an API that sends that feature, and so knows the field, ever receives it. An agent upgraded before the
 * API publishes nothing that API refuses (apps/node-agent's published-events.spec.ts checks that every new field is here).
 */
export const AGENT_EVENT_ANSWERS: Readonly<Record<string, AgentFeature>> = {
  'snapshot.taken.v1 diff': 'takeWithDiff',
};

/** Whether an agent that reported `agentVersion` accepts `feature`. */
export function agentSupports(agentVersion: string | null | undefined, feature: AgentFeature): boolean {
  return isAtLeast(agentVersion, AGENT_FEATURES[feature].since);
}

/** Whether `version` is `minimum` or later, by major.minor.patch (a pre-release or build suffix is not compared); a version of any other form is not. */
export function isAtLeast(version: string | null | undefined, minimum: string): boolean {
  const have = releaseOf(version);
  const need = releaseOf(minimum);
  if (!have || !need) return false;
  for (let i = 0; i < 3; i++) if (have[i] !== need[i]) return have[i] > need[i];
  return true;
}

function releaseOf(version: string | null | undefined): number[] | null {
  const match = /^(\d+)\.(\d+)\.(\d+)(?:[-+].*)?$/.exec(version ?? '');
  return match ? match.slice(1, 4).map(Number) : null;
}

/** The features a job for an agent relies on: those whose job it is, or whose fields it carries. */
export function featuresUsedBy(contract: { name: string; version: number }, payload: object): AgentFeature[] {
  const key = contractKey(contract);
  return (Object.keys(AGENT_FEATURES) as AgentFeature[]).filter((feature) =>
    AGENT_FEATURES[feature].fields.some((field) => {
      const [job, path] = field.split(' ');
      return job === key && (path === undefined || valuesAt(payload, path.split('.')).length > 0);
    }),
  );
}

/** The values at `path` (an array on the way: each of its elements'). */
function valuesAt(value: unknown, path: string[]): unknown[] {
  if (path.length === 0) return value === undefined ? [] : [value];
  if (Array.isArray(value)) return value.flatMap((element) => valuesAt(element, path));
  if (value === null || typeof value !== 'object') return [];
  return valuesAt((value as Record<string, unknown>)[path[0]], path.slice(1));
}
