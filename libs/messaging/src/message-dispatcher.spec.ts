import { ConsumeMessage } from 'amqplib';
import { ImageGrow, OperationFailedEvent, PointsInTimeRelease } from '@island/contracts';
import { MetricsService } from '@island/platform';
import { AmqpConnection } from './amqp-connection';
import { BrokerNames, HEADERS } from './broker-names';
import { MessageDispatcher } from './message-dispatcher';
import { PermanentMessageError } from './messaging-errors';

const VOLUME = '6f1c1c5e-8d0a-4b7e-9a51-0d6b1c2f3a4b';
const OPERATION = '7f1c1c5e-8d0a-4b7e-9a51-0d6b1c2f3a4b';
const grow = { host: 'h1', volumeId: VOLUME, operationId: OPERATION, path: '/data/v.qcow2', sizeBytes: 1 << 30 };
const release = { host: 'h1', volumeId: VOLUME, path: '/data/v.qcow2', drop: ['island-s1'] };

function delivery(contract: { name: string; version: number }, payload: object, attempt = 1): ConsumeMessage {
  return {
    content: Buffer.from(JSON.stringify(payload)),
    fields: { routingKey: 'k', redelivered: false, deliveryTag: 1, exchange: 'island', consumerTag: 'c' },
    properties: { headers: { [HEADERS.contract]: contract.name, [HEADERS.version]: contract.version, [HEADERS.attempt]: attempt } },
  } as unknown as ConsumeMessage;
}

describe('the message dispatcher', () => {
  const published: { exchange: string; routingKey: string }[] = [];
  const reports: OperationFailedEvent[] = [];
  const connection = { publish: async (exchange: string, routingKey: string) => void published.push({ exchange, routingKey }) } as unknown as AmqpConnection;
  const names = new BrokerNames('t');
  let failWith: Error | undefined;
  const dispatcher = new MessageDispatcher(
    [ImageGrow, PointsInTimeRelease].map((contract) => ({
      contract,
      handle: async () => {
        if (failWith) throw failWith;
      },
    })),
    connection,
    names,
    [100, 200],
    new MetricsService(),
    async (report) => void reports.push(report),
  );

  beforeEach(() => {
    published.length = 0;
    reports.length = 0;
  });

  it('reports a permanent failure at once, with what it ends, and dead-letters the job', async () => {
    failWith = Object.assign(new Error('image /data/v.qcow2 has internal snapshots'), { permanent: true });
    expect(await dispatcher.dispatch('q', delivery(ImageGrow, grow))).toBe('dead-lettered');
    expect(reports).toEqual([
      {
        job: 'image.grow',
        ends: 'volume-operation',
        resourceId: VOLUME,
        operationId: OPERATION,
        host: 'h1',
        reason: 'image /data/v.qcow2 has internal snapshots',
      },
    ]);
    expect(published).toEqual([{ exchange: names.deadExchange, routingKey: 'k' }]);
  });

  it('retries a transient failure without reporting it, and reports the last attempt that fails', async () => {
    failWith = new Error('Swift → 503');
    expect(await dispatcher.dispatch('q', delivery(ImageGrow, grow, 1))).toBe('retried');
    expect(reports).toEqual([]);
    expect(await dispatcher.dispatch('q', delivery(ImageGrow, grow, 3))).toBe('dead-lettered');
    expect(reports).toEqual([expect.objectContaining({ ends: 'volume-operation', reason: 'gave up after 3 attempts: Swift → 503' })]);
  });

  it('treats a full disk as permanent, and reports nothing for housekeeping whose failure ends no operation', async () => {
    failWith = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    expect(await dispatcher.dispatch('q', delivery(ImageGrow, grow))).toBe('dead-lettered');
    expect(reports).toHaveLength(1);
    failWith = new PermanentMessageError('no such point in time');
    expect(await dispatcher.dispatch('q', delivery(PointsInTimeRelease, release))).toBe('dead-lettered');
    expect(reports).toHaveLength(1);
  });
});
