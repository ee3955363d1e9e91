import { MessageContext, reportingFinalFailure } from './message-context';

const context = (attempt: number, finalAttempt: boolean): MessageContext => ({ contract: 'X.v1', attempt, redelivered: false, finalAttempt, routingKey: 'k' });

describe('reportingFinalFailure', () => {
  it('reports a failure of the last attempt with its reason, then rethrows it for the dead letter', async () => {
    const reports: string[] = [];
    const run = reportingFinalFailure(
      context(6, true),
      async () => Promise.reject(new Error('Swift is down')),
      async (r) => void reports.push(r),
    );
    await expect(run).rejects.toThrow('Swift is down');
    expect(reports).toEqual(['gave up after 6 attempts: Swift is down']);
  });

  it('reports nothing when a retry follows, or when the work succeeds', async () => {
    const reports: string[] = [];
    await expect(
      reportingFinalFailure(
        context(2, false),
        async () => Promise.reject(new Error('busy')),
        async (r) => void reports.push(r),
      ),
    ).rejects.toThrow('busy');
    await reportingFinalFailure(
      context(6, true),
      async () => undefined,
      async (r) => void reports.push(r),
    );
    expect(reports).toEqual([]);
  });
});
