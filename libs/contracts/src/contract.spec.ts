import { IsInt, IsString, Min } from 'class-validator';
import { ContractViolationError, defineContract, parsePayload } from './contract';
import { queuesFor, routes } from './topology';

class ExampleJob {
  @IsString() volumeId!: string;
  @IsInt() @Min(1) size!: number;
}

const example = defineContract({
  name: 'example.do',
  version: 1,
  kind: 'job',
  consumer: 'node-agent',
  schema: ExampleJob,
  routingKey: () => routes.agent('host1', 'example.do', 1),
});

describe('contracts', () => {
  it('returns a typed payload for a message that matches its contract', () => {
    const payload = parsePayload(example, { volumeId: 'v1', size: 4 });
    expect(payload).toBeInstanceOf(ExampleJob);
    expect(payload.size).toBe(4);
  });

  it('names every problem of a message that does not match, and unknown fields too', () => {
    expect(() => parsePayload(example, { volumeId: 7, size: 0, extra: true })).toThrow(ContractViolationError);
    try {
      parsePayload(example, { volumeId: 7, size: 0, extra: true });
    } catch (e) {
      const problems = (e as ContractViolationError).problems.join('\n');
      expect(problems).toMatch(/volumeId/);
      expect(problems).toMatch(/size/);
      expect(problems).toMatch(/extra/);
    }
    expect(() => parsePayload(example, [1, 2])).toThrow(/payload must be a JSON object/);
  });

  it('routes host-scoped jobs to the queue of that host only', () => {
    const [agentQueue] = queuesFor('node-agent', 'host1');
    expect(agentQueue.name).toBe('island.agent.host1');
    expect(agentQueue.bindings).toEqual(['agent.host1.#']);
    expect(example.routingKey({ volumeId: 'v', size: 1 })).toBe('agent.host1.example.do.v1');
    expect(() => queuesFor('snapshot-worker')).toThrow(/host name is required/);
  });
});

describe('the contract registry', () => {
  // imported here so the registry's own duplicate check runs in this test too
  const {
    CONTRACTS,
    contractKey,
    contractsConsumedBy,
    SnapshotUploadPart,
    SnapshotDiffed,
    SnapshotPartUploaded,
    SnapshotTake,
    SnapshotTaken,
    MAX_PART_BLOCKS,
    failureReport,
    ImageGrow,
    OperationFailed,
    PointsInTimeRelease,
  } = jest.requireActual('./index') as typeof import('./index');

  it('routes every job to its consumer scope and every event to the API', () => {
    for (const c of CONTRACTS) {
      if (c.kind === 'event') expect(c.consumer).toBe('api');
      else expect(c.consumer).not.toBe('api');
    }
    expect(contractsConsumedBy('node-agent').map((c) => c.name)).toContain('snapshot.take');
    expect(SnapshotUploadPart.routingKey({ host: 'h1' } as never)).toBe('worker.h1.snapshot.upload-part.v1');
  });

  it("derives every routing key from the contract's own name and version, bound to its consumer's queue", () => {
    for (const c of CONTRACTS) {
      const key = c.routingKey({ host: 'h1' } as never);
      expect(key.endsWith(`.${contractKey(c)}`)).toBe(true);
      const bindings = queuesFor(c.consumer, 'h1').flatMap((q) => q.bindings);
      expect(bindings.some((b) => key.startsWith(b.replace(/#$/, '')))).toBe(true);
    }
  });

  it('validates nested block runs in a diff event', () => {
    const ok = parsePayload(SnapshotDiffed, {
      host: 'h1',
      snapshotId: '6f1c1c5e-8d0a-4b7e-9a51-0d6b1c2f3a4b',
      changed: [{ start: 0, count: 3 }],
      bytesChanged: 1,
    });
    expect(ok.changed[0].count).toBe(3);
    expect(() =>
      parsePayload(SnapshotDiffed, { host: 'h1', snapshotId: '6f1c1c5e-8d0a-4b7e-9a51-0d6b1c2f3a4b', changed: [{ start: -1, count: 0 }], bytesChanged: 1 }),
    ).toThrow(/changed\.0\.start.*changed\.0\.count|changed\.0\.count.*changed\.0\.start/s);
  });

  it('validates the diff a taken event may carry, nested block runs and base alike, and takes an event without one', () => {
    const snapshotId = '6f1c1c5e-8d0a-4b7e-9a51-0d6b1c2f3a4b';
    expect(parsePayload(SnapshotTaken, { host: 'h1', snapshotId }).diff).toBeUndefined();
    const ok = parsePayload(SnapshotTaken, { host: 'h1', snapshotId, diff: { base: null, changed: [{ start: 4, count: 2 }], bytesChanged: 7 } });
    expect(ok.diff).toEqual({ base: null, changed: [{ start: 4, count: 2 }], bytesChanged: 7 });
    expect(() => parsePayload(SnapshotTaken, { host: 'h1', snapshotId, diff: { base: null, changed: [{ start: 0, count: 0 }], bytesChanged: 7 } })).toThrow(
      /diff\.changed\.0\.count/,
    );
    expect(() => parsePayload(SnapshotTaken, { host: 'h1', snapshotId, diff: { base: '../x', changed: [], bytesChanged: 0 } })).toThrow(/diff\.base/);
    expect(() =>
      parsePayload(SnapshotTake, {
        host: 'h1',
        snapshotId,
        volumeId: snapshotId,
        path: '/v/x.qcow2',
        pointInTime: 'island-1',
        diff: { base: null, blockSize: 3 },
      }),
    ).toThrow(/diff\.blockSize/);
  });

  it("takes a part's blocks as they are reported and names the first block that is not one", () => {
    const report = (blocks: unknown) => ({
      host: 'h1',
      snapshotId: '6f1c1c5e-8d0a-4b7e-9a51-0d6b1c2f3a4b',
      partIndex: 0,
      blocks,
      bytesRead: 0,
      bytesUploaded: 0,
      bytesStored: 0,
      blocksUploaded: 0,
      blocksReused: 0,
    });
    const hash = 'ab'.repeat(32);
    expect(
      parsePayload(
        SnapshotPartUploaded,
        report([
          { index: 3, hash },
          { index: 4, hash: null },
        ]),
      ).blocks,
    ).toEqual([
      { index: 3, hash },
      { index: 4, hash: null },
    ]);
    const refused = (blocks: unknown) => () => parsePayload(SnapshotPartUploaded, report(blocks));
    expect(
      refused([
        { index: 3, hash },
        { index: 4, hash: 'AB'.repeat(32) },
      ]),
    ).toThrow('blocks: blocks[1].hash must be a SHA-256 in hex or null');
    expect(refused([{ index: 3 }])).toThrow('blocks[0].hash must be a SHA-256 in hex or null');
    expect(refused([{ index: -1, hash }])).toThrow('blocks[0].index must be a non-negative integer');
    expect(refused([{ index: 1.5, hash }])).toThrow('blocks[0].index must be a non-negative integer');
    expect(refused([{ index: 1, hash, size: 4 }])).toThrow('blocks[0].size should not exist');
    expect(refused([null])).toThrow('blocks[0] must be an object');
    expect(refused({ index: 1, hash })).toThrow('blocks must be an array');
    expect(refused(Array.from({ length: MAX_PART_BLOCKS + 1 }, (_, index) => ({ index, hash })))).toThrow(
      `blocks must hold at most ${MAX_PART_BLOCKS} blocks, not ${MAX_PART_BLOCKS + 1}`,
    );
  });

  it('declares for every job what its final failure ends, and reports it with the resource and host', () => {
    for (const c of CONTRACTS.filter((c) => c.kind === 'job')) expect(c.onFailure).toBeDefined();
    const volumeId = '6f1c1c5e-8d0a-4b7e-9a51-0d6b1c2f3a4b';
    const operationId = '7f1c1c5e-8d0a-4b7e-9a51-0d6b1c2f3a4b';
    const report = failureReport(ImageGrow, { host: 'h1', volumeId, operationId, path: '/d/v.qcow2', sizeBytes: 1 << 30 }, 'x'.repeat(3000));
    expect(report).toMatchObject({ job: 'image.grow', ends: 'volume-operation', resourceId: volumeId, operationId, host: 'h1' });
    expect(report?.reason).toHaveLength(2000);
    expect(parsePayload(OperationFailed, report)).toBeDefined();
    expect(failureReport(PointsInTimeRelease, { host: 'h1', volumeId, path: '/d/v.qcow2', drop: ['island-s1'] }, 'gone')).toBeNull();
  });
});
