/** A one-line progress bar on stderr, drawn only when stderr is a terminal. */
export class ProgressBar {
  private drawn = false;
  private readonly enabled = Boolean(process.stderr.isTTY);

  constructor(private readonly title: string) {}

  update(percent: number, label: string): void {
    if (!this.enabled) return;
    const width = 30;
    const p = Math.max(0, Math.min(100, Math.floor(percent)));
    const filled = Math.round((p / 100) * width);
    process.stderr.write(`\r${this.title} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(p).padStart(3)}% ${label}\x1b[K`);
    this.drawn = true;
  }

  finish(): void {
    if (this.drawn) process.stderr.write('\r\x1b[K');
    this.drawn = false;
  }
}
