import { PeriodicTask } from './periodic-task';

describe('a periodic task', () => {
  it('never overlaps its runs, reports a failing run and keeps going, and waits for the run in progress when stopped', async () => {
    let active = 0;
    let most = 0;
    let runs = 0;
    let thirdRun = (): void => undefined;
    const threeRuns = new Promise<void>((r) => (thirdRun = r));
    const errors: string[] = [];
    const task = new PeriodicTask(
      async () => {
        runs++;
        if (runs === 3) thirdRun();
        active++;
        most = Math.max(most, active);
        await new Promise((r) => setTimeout(r, 30));
        active--;
        if (runs === 1) throw new Error('first run failed');
      },
      (e) => errors.push(e.message),
    );
    task.start(5);
    // ticks every 5 ms against runs of 30 ms: most ticks find a run in progress (however slow a loaded machine makes them)
    await threeRuns;
    await task.stop();
    const after = runs;
    await new Promise((r) => setTimeout(r, 40));
    expect(most).toBe(1);
    expect(runs).toBeGreaterThanOrEqual(3);
    expect(runs).toBe(after);
    expect(active).toBe(0);
    expect(errors).toEqual(['first run failed']);
  });
});

describe('a periodic task asked to run soon', () => {
  it('runs at once when idle, once more after the run in progress when busy, and not at all once stopped', async () => {
    const starts: number[] = [];
    let release = (): void => undefined;
    const task = new PeriodicTask(
      () => {
        starts.push(Date.now());
        return new Promise<void>((r) => (release = r));
      },
      () => undefined,
    );
    task.start(60_000);
    task.runSoon();
    expect(starts).toHaveLength(1);
    task.runSoon();
    task.runSoon();
    expect(starts).toHaveLength(1);
    release();
    await new Promise((r) => setImmediate(r));
    expect(starts).toHaveLength(2);
    release();
    await new Promise((r) => setImmediate(r));
    expect(starts).toHaveLength(2);
    const stopped = task.stop();
    task.runSoon();
    await stopped;
    expect(starts).toHaveLength(2);
  });
});
