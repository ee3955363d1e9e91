/**
 * Runs `work` every `intervalMs`, never two runs at once (a tick while one runs is skipped), on a timer that does
 * not keep the process alive; `stop` clears the timer and waits for the run in progress. A run that throws is
 * reported to `onError` and the next tick runs again.
 */
export class PeriodicTask {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly work: () => Promise<unknown>,
    private readonly onError: (error: Error) => void,
  ) {}

  start(intervalMs: number): void {
    this.timer = setInterval(() => {
      this.running ??= this.work()
        .then(() => undefined, this.onError)
        .finally(() => (this.running = undefined));
    }, intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}
