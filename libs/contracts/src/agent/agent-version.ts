/**
 * The node agent's version, as its heartbeat reports it and the API records it on the host. What the API may ask
 * of an agent depends on it: kept equal to apps/node-agent/package.json's version (a spec checks).
 */
export const AGENT_VERSION = '0.2.0';

/**
 * The first agent version that accepts each optional field of a job. An earlier agent refuses a job that carries
 * one (contracts refuse fields they do not know), so the API sends such a field only to hosts whose agent reported
 * at least this version: during a rolling upgrade, hosts not yet upgraded get the jobs they understand.
 */
export const AGENT_FEATURES = {
  /** SnapshotTakeJob.diff and GroupPoint.diff: the agent diffs right after the take and reports the changed blocks with it. */
  takeWithDiff: '0.2.0',
} as const;

export type AgentFeature = keyof typeof AGENT_FEATURES;

/** Whether an agent that reported `agentVersion` accepts `feature`: by major.minor.patch (a pre-release or build suffix is not compared); any other version accepts none. */
export function agentSupports(agentVersion: string | null | undefined, feature: AgentFeature): boolean {
  const have = releaseOf(agentVersion);
  const need = releaseOf(AGENT_FEATURES[feature]);
  if (!have || !need) return false;
  for (let i = 0; i < 3; i++) if (have[i] !== need[i]) return have[i] > need[i];
  return true;
}

function releaseOf(version: string | null | undefined): number[] | null {
  const match = /^(\d+)\.(\d+)\.(\d+)(?:[-+].*)?$/.exec(version ?? '');
  return match ? match.slice(1, 4).map(Number) : null;
}
