import { handlerSpentBetween, HandlerSeconds } from './handler-time';

describe('handler time between two readings', () => {
  const reading = (entries: [string, number, number][]): HandlerSeconds => new Map(entries.map(([key, seconds, handled]) => [key, { seconds, handled }]));

  it('counts only the handlers that ran between them, in ms, with how many messages each handled', () => {
    const before = reading([
      ['agent snapshot.take.v1', 1.5, 10],
      ['api snapshot.taken.v1', 0.2, 10],
    ]);
    const after = reading([
      ['agent snapshot.take.v1', 1.6, 11],
      ['api snapshot.taken.v1', 0.2, 10],
      ['worker-1 snapshot.upload-part.v1', 0.9, 1],
    ]);
    const spent = handlerSpentBetween(before, after);
    expect([...spent.keys()]).toEqual(['agent snapshot.take.v1', 'worker-1 snapshot.upload-part.v1']);
    expect(spent.get('agent snapshot.take.v1')?.ms).toBeCloseTo(100, 6);
    expect(spent.get('agent snapshot.take.v1')?.handled).toBe(1);
    expect(spent.get('worker-1 snapshot.upload-part.v1')).toEqual({ ms: 900, handled: 1 });
  });

  it('refuses a counter that went back, as a restarted process would leave it', () => {
    const before = reading([['worker-2 snapshot.upload-part.v1', 4, 7]]);
    const after = reading([['worker-2 snapshot.upload-part.v1', 0.5, 1]]);
    expect(() => handlerSpentBetween(before, after)).toThrow('worker-2 snapshot.upload-part.v1: fewer messages handled than at the reading before');
  });
});
