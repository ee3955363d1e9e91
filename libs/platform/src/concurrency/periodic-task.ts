/**
 * Runs `work` every `intervalMs`, never two runs at once (a tick while one runs is skipped), on a timer that does
 * not keep the process alive; `stop` clears the timer and waits for the run in progress. A run that throws is
 * reported to `onError` and the next tick runs again. `runSoon` runs it at once, when something it waits for happened.
 */
export class PeriodicTask {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(
    private readonly work: () => Promise<unknown>,
    private readonly onError: (error: Error) => void,
  ) {}

  start(intervalMs: number): void {
    this.stopped = false;
    this.timer = setInterval(() => this.run(), intervalMs);
    this.timer.unref();
  }

  /** Runs now, or once more as soon as the run in progress ends (what it asks for may have happened after that run looked). */
  runSoon(): void {
    if (this.stopped) return;
    if (this.running) this.again = true;
    else this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    while (this.running) await this.running;
  }

  private run(): void {
    this.running ??= this.work()
      .then(() => undefined, this.onError)
      .finally(() => {
        this.running = undefined;
        if (!this.again || this.stopped) return;
        this.again = false;
        this.run();
      });
  }
}
