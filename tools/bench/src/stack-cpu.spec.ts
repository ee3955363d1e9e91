import { meanStepUsage, StepUsage } from './stack-cpu';

function pass(total: number, copier: string, peakRss: number, threads = { mainUser: 1, mainSystem: 0.2, otherUser: 0.1, otherSystem: 0 }): StepUsage {
  return {
    total,
    seconds: total * 4,
    byProcess: { api: 0.1, [copier]: total - 0.1 },
    busiest: { name: copier, threads, fullCollections: 1, minorFaults: 100, peakRss },
    largest: { name: copier, peakRss },
    besides: { sink: 0.5 },
  };
}

describe('meanStepUsage', () => {
  it('averages CPU process by process, counting a process absent from a pass as idle in it', () => {
    const mean = meanStepUsage([pass(1.0, 'worker-1', 200), pass(1.6, 'worker-two', 150)]);
    expect(mean.total).toBeCloseTo(1.3);
    expect(mean.seconds).toBeCloseTo(5.2);
    expect(mean.byProcess.api).toBeCloseTo(0.1);
    expect(mean.byProcess['worker-1']).toBeCloseTo(0.45);
    expect(mean.byProcess['worker-two']).toBeCloseTo(0.75);
    expect(mean.besides.sink).toBeCloseTo(0.5);
  });

  it("names every pass's busiest process and averages their threads, keeping the highest peaks", () => {
    const mean = meanStepUsage([
      pass(1.0, 'worker-1', 200, { mainUser: 0.5, mainSystem: 0.3, otherUser: 0.1, otherSystem: 0 }),
      pass(1.6, 'worker-two', 150, { mainUser: 0.9, mainSystem: 0.3, otherUser: 0.3, otherSystem: 0.1 }),
    ]);
    expect(mean.busiest.name).toBe('worker-1/worker-two');
    expect(mean.busiest.threads.mainUser).toBeCloseTo(0.7);
    expect(mean.busiest.threads.otherUser).toBeCloseTo(0.2);
    expect(mean.busiest.threads.otherSystem).toBeCloseTo(0.05);
    expect(mean.busiest.peakRss).toBe(200);
    expect(mean.largest).toEqual({ name: 'worker-1', peakRss: 200 });
  });

  it('is the pass itself when there is one, and names a process once when it was the busiest of every pass', () => {
    const one = pass(1.2, 'worker-1', 180);
    expect(meanStepUsage([one])).toEqual(one);
    expect(meanStepUsage([one, pass(1.4, 'worker-1', 190)]).busiest.name).toBe('worker-1');
  });
});
