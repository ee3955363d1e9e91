import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  AGENT_EVENT_ANSWERS,
  AgentHeartbeat,
  ImageCreated,
  ImageDeleted,
  ImageExported,
  ImageFilled,
  ImageFillFailed,
  ImageFillProgressed,
  ImageGrown,
  ImageReplaced,
  ImageServedAgain,
  ImageUnexported,
  OperationFailed,
  SnapshotDiffed,
  SnapshotTaken,
  VolumeRestored,
} from '@island/contracts';
import { contractFields, isWithin } from '@island/contracts/testing';

/** What the agent publishes itself; and OperationFailed, which libs/messaging publishes for it when a job fails for good. */
const PUBLISHED_BY_THE_AGENT = {
  AgentHeartbeat,
  ImageCreated,
  ImageDeleted,
  ImageExported,
  ImageFillFailed,
  ImageFillProgressed,
  ImageFilled,
  ImageGrown,
  ImageReplaced,
  ImageServedAgain,
  ImageUnexported,
  SnapshotDiffed,
  SnapshotTaken,
  VolumeRestored,
};
const PUBLISHED_FOR_THE_AGENT = { OperationFailed };

/** The fields of those events as the API of the agent's 0.1.0 era accepts them: an API of that release refuses any other. */
const ACCEPTED_BY_AN_API_OF_0_1_0 = new Set([
  ...['agent.heartbeat.v1', 'agent.heartbeat.v1 host', 'agent.heartbeat.v1 region', 'agent.heartbeat.v1 dataDir'],
  ...['agent.heartbeat.v1 capacityBytes', 'agent.heartbeat.v1 freeBytes', 'agent.heartbeat.v1 version'],
  ...['image.created.v1', 'image.created.v1 host', 'image.created.v1 volumeId', 'image.created.v1 path'],
  ...['image.deleted.v1', 'image.deleted.v1 host', 'image.deleted.v1 volumeId'],
  ...['image.exported.v1', 'image.exported.v1 operationId', 'image.exported.v1 host', 'image.exported.v1 volumeId'],
  ...['image.exported.v1 nbd', 'image.exported.v1 raw', 'image.exported.v1 device'],
  ...['image.fill-failed.v1', 'image.fill-failed.v1 host', 'image.fill-failed.v1 volumeId', 'image.fill-failed.v1 reason'],
  ...['image.fill-progressed.v1', 'image.fill-progressed.v1 host', 'image.fill-progressed.v1 volumeId'],
  ...['image.fill-progressed.v1 done', 'image.fill-progressed.v1 total'],
  ...['image.filled.v1', 'image.filled.v1 host', 'image.filled.v1 volumeId'],
  ...['image.grown.v1', 'image.grown.v1 host', 'image.grown.v1 volumeId', 'image.grown.v1 operationId', 'image.grown.v1 sizeBytes'],
  ...['image.replaced.v1', 'image.replaced.v1 host', 'image.replaced.v1 volumeId', 'image.replaced.v1 operationId'],
  ...['image.served-again.v1', 'image.served-again.v1 host', 'image.served-again.v1 volumeId'],
  ...['image.served-again.v1 nbd', 'image.served-again.v1 raw', 'image.served-again.v1 device'],
  ...['image.unexported.v1', 'image.unexported.v1 host', 'image.unexported.v1 volumeId', 'image.unexported.v1 operationId'],
  ...['snapshot.diffed.v1', 'snapshot.diffed.v1 host', 'snapshot.diffed.v1 snapshotId', 'snapshot.diffed.v1 changed'],
  ...['snapshot.diffed.v1 changed.start', 'snapshot.diffed.v1 changed.count', 'snapshot.diffed.v1 bytesChanged'],
  ...['snapshot.taken.v1', 'snapshot.taken.v1 host', 'snapshot.taken.v1 snapshotId'],
  ...['volume.restored.v1', 'volume.restored.v1 host', 'volume.restored.v1 volumeId', 'volume.restored.v1 operationId'],
  ...['volume.restored.v1 purpose', 'volume.restored.v1 targetPath', 'volume.restored.v1 pointInTime'],
  ...['volume.restored.v1 bytesWritten', 'volume.restored.v1 blocksWritten'],
  ...['operation.failed.v2', 'operation.failed.v2 job', 'operation.failed.v2 ends', 'operation.failed.v2 resourceId'],
  ...['operation.failed.v2 operationId', 'operation.failed.v2 reason', 'operation.failed.v2 host'],
]);

function sourcesOf(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourcesOf(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.spec.ts') ? [readFileSync(path, 'utf8')] : [];
  });
}

describe('the events the agent publishes, against an API of an earlier release', () => {
  it('lists every event the agent publishes (its sources name each in a publish call)', () => {
    const published = new Set(sourcesOf(__dirname).flatMap((source) => [...source.matchAll(/\.publish\(\s*([A-Z]\w*)/g)].map((m) => m[1])));
    expect([...published].sort()).toEqual(Object.keys(PUBLISHED_BY_THE_AGENT).sort());
  });

  it('adds to what an API of 0.1.0 accepts only fields sent in answer to a feature that API never asks for', () => {
    const events = [...Object.values(PUBLISHED_BY_THE_AGENT), ...Object.values(PUBLISHED_FOR_THE_AGENT)];
    const added = events.flatMap(contractFields).filter((field) => !ACCEPTED_BY_AN_API_OF_0_1_0.has(field));
    const unanswered = added.filter((field) => !Object.keys(AGENT_EVENT_ANSWERS).some((answer) => isWithin(field, answer)));
    expect(unanswered).toEqual([]);
    expect(added).toEqual(expect.arrayContaining(Object.keys(AGENT_EVENT_ANSWERS)));
  });
});
