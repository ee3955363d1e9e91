import { contractFields, isWithin } from '../testing/contract-fields';
import { contractsConsumedBy } from '../registry';
import { AGENT_FEATURES, AGENT_VERSION, isAtLeast } from './agent-version';

/** What the agent of this tree accepts: each job's contract key alone, and `<key> <field>` for each of its fields. */
function agentJobFields(): string[] {
  return contractsConsumedBy('node-agent').flatMap(contractFields);
}

const RELEASE_0_1_0 = [
  ...['image.create.v1', 'image.create.v1 host', 'image.create.v1 volumeId', 'image.create.v1 path', 'image.create.v1 sizeBytes'],
  ...[
    'snapshot.take.v1',
    'snapshot.take.v1 host',
    'snapshot.take.v1 snapshotId',
    'snapshot.take.v1 volumeId',
    'snapshot.take.v1 path',
    'snapshot.take.v1 pointInTime',
  ],
  ...[
    'snapshot.diff.v1',
    'snapshot.diff.v1 host',
    'snapshot.diff.v1 snapshotId',
    'snapshot.diff.v1 volumeId',
    'snapshot.diff.v1 path',
    'snapshot.diff.v1 pointInTime',
  ],
  ...['snapshot.diff.v1 base', 'snapshot.diff.v1 blockSize'],
  ...[
    'points-in-time.release.v1',
    'points-in-time.release.v1 host',
    'points-in-time.release.v1 volumeId',
    'points-in-time.release.v1 path',
    'points-in-time.release.v1 drop',
  ],
  ...[
    'image.replace.v1',
    'image.replace.v1 host',
    'image.replace.v1 volumeId',
    'image.replace.v1 operationId',
    'image.replace.v1 path',
    'image.replace.v1 replacementPath',
  ],
  ...['image.delete.v1', 'image.delete.v1 host', 'image.delete.v1 volumeId', 'image.delete.v1 path', 'image.delete.v1 reason'],
  ...['image.grow.v1', 'image.grow.v1 host', 'image.grow.v1 volumeId', 'image.grow.v1 operationId', 'image.grow.v1 path', 'image.grow.v1 sizeBytes'],
  ...['image.export.v1', 'image.export.v1 host', 'image.export.v1 volumeId', 'image.export.v1 operationId', 'image.export.v1 path', 'image.export.v1 export'],
  ...['image.unexport.v1', 'image.unexport.v1 host', 'image.unexport.v1 volumeId', 'image.unexport.v1 operationId'],
  ...['snapshot.take-group.v1', 'snapshot.take-group.v1 host', 'snapshot.take-group.v1 points'],
  ...[
    'snapshot.take-group.v1 points.snapshotId',
    'snapshot.take-group.v1 points.volumeId',
    'snapshot.take-group.v1 points.path',
    'snapshot.take-group.v1 points.pointInTime',
  ],
  ...[
    'image.create-from-snapshot.v1',
    'image.create-from-snapshot.v1 host',
    'image.create-from-snapshot.v1 volumeId',
    'image.create-from-snapshot.v1 operationId',
  ],
  ...['image.create-from-snapshot.v1 projectId', 'image.create-from-snapshot.v1 region', 'image.create-from-snapshot.v1 manifestObject'],
  ...[
    'image.create-from-snapshot.v1 manifestSealed',
    'image.create-from-snapshot.v1 path',
    'image.create-from-snapshot.v1 sizeBytes',
    'image.create-from-snapshot.v1 pointInTime',
  ],
];

/**
 * What each released agent accepts, frozen once released: its agents refuse anything else. A new field or job goes
 * with a new AGENT_VERSION recorded here and a feature in AGENT_FEATURES that the API checks before sending it.
 */
const RELEASED: Record<string, readonly string[]> = {
  '0.1.0': RELEASE_0_1_0,
  '0.2.0': [...RELEASE_0_1_0, 'snapshot.take.v1 diff', 'snapshot.take.v1 diff.base', 'snapshot.take.v1 diff.blockSize'].concat([
    'snapshot.take-group.v1 points.diff',
    'snapshot.take-group.v1 points.diff.base',
    'snapshot.take-group.v1 points.diff.blockSize',
  ]),
};

/** The feature that gates `field`, if any: it names the field, or a job or field that holds it. */
function featureOf(field: string) {
  return Object.entries(AGENT_FEATURES).find(([, feature]) => feature.fields.some((f) => isWithin(field, f)));
}

describe('the jobs an agent accepts, release by release', () => {
  it('records what this release of the agent accepts, and the jobs ask for exactly that', () => {
    expect(Object.keys(RELEASED)).toContain(AGENT_VERSION);
    expect(agentJobFields().sort()).toEqual([...RELEASED[AGENT_VERSION]].sort());
  });

  it('gates every field or job that an earlier release refuses behind a feature that release does not have', () => {
    const current = agentJobFields();
    for (const [release, accepted] of Object.entries(RELEASED)) {
      if (release === AGENT_VERSION) continue;
      for (const field of current.filter((f) => !accepted.includes(f))) {
        const feature = featureOf(field);
        expect({ release, field, gatedBy: feature?.[0] }).toEqual({ release, field, gatedBy: expect.any(String) });
        expect({ release, field, gateOpensFor: isAtLeast(release, feature![1].since) }).toEqual({ release, field, gateOpensFor: false });
      }
    }
  });

  it('names in each feature only fields the agent accepts, from a version no later than its own', () => {
    const current = agentJobFields();
    for (const [name, feature] of Object.entries(AGENT_FEATURES)) {
      for (const field of feature.fields) expect({ name, field, known: current.includes(field) }).toEqual({ name, field, known: true });
      expect({ name, since: feature.since, released: isAtLeast(AGENT_VERSION, feature.since) }).toEqual({ name, since: feature.since, released: true });
    }
  });

  it('walks nested fields, so that a field added inside a nested request is seen', () => {
    expect(agentJobFields()).toEqual(expect.arrayContaining(['snapshot.take-group.v1 points.diff.blockSize', 'snapshot.take.v1 diff.base']));
  });
});
