import { SnapshotDiff, SnapshotTake, SnapshotTakeGroup } from './agent-jobs';
import { AGENT_FEATURES, AGENT_VERSION, agentSupports, featuresUsedBy } from './agent-version';

describe('agentSupports', () => {
  it('refuses the take with its diff to an agent that reported 0.1.0, as every agent before it did', () => {
    expect(agentSupports('0.1.0', 'takeWithDiff')).toBe(false);
  });

  it('offers every feature to an agent of this version', () => {
    for (const feature of Object.keys(AGENT_FEATURES) as (keyof typeof AGENT_FEATURES)[]) expect(agentSupports(AGENT_VERSION, feature)).toBe(true);
  });

  it('compares versions by number, not as text, and ignores a pre-release or build suffix', () => {
    expect(agentSupports('0.10.0', 'takeWithDiff')).toBe(true);
    expect(agentSupports('0.2.10', 'takeWithDiff')).toBe(true);
    expect(agentSupports('1.0.0', 'takeWithDiff')).toBe(true);
    expect(agentSupports('0.1.99', 'takeWithDiff')).toBe(false);
    expect(agentSupports('0.2.0+build.7', 'takeWithDiff')).toBe(true);
    expect(agentSupports('0.2.0-rc.1', 'takeWithDiff')).toBe(true); // a pre-release is not told from its release
  });

  it('offers nothing to an agent whose version is not major.minor.patch, or that reported none', () => {
    for (const version of ['test', '', '0.2', 'v0.2.0', '0.2.0.1', null, undefined]) expect(agentSupports(version, 'takeWithDiff')).toBe(false);
  });
});

describe('featuresUsedBy', () => {
  const take = { host: 'h', snapshotId: 's', volumeId: 'v', path: '/p', pointInTime: 'island-x' };
  const point = { snapshotId: 's', volumeId: 'v', path: '/p', pointInTime: 'island-x' };

  it('finds the take-with-diff feature in a take that carries a diff, and nothing in one without', () => {
    expect(featuresUsedBy(SnapshotTake, { ...take, diff: { base: null, blockSize: 1048576 } })).toEqual(['takeWithDiff']);
    expect(featuresUsedBy(SnapshotTake, take)).toEqual([]);
  });

  it('looks into each point of a group take: one point with a diff is enough', () => {
    expect(featuresUsedBy(SnapshotTakeGroup, { host: 'h', points: [point, { ...point, diff: { base: 'island-y', blockSize: 1048576 } }] })).toEqual([
      'takeWithDiff',
    ]);
    expect(featuresUsedBy(SnapshotTakeGroup, { host: 'h', points: [point, point] })).toEqual([]);
  });

  it('does not take a field of the same name in another job for the feature', () => {
    expect(featuresUsedBy(SnapshotDiff, { ...take, base: null, blockSize: 1048576, diff: {} })).toEqual([]);
  });
});
