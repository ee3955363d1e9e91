/** One compared measurement: island against the real alternative, same machine, same run. */
export interface BenchmarkRow {
  /** What was measured, e.g. "PUT 4 MiB objects, concurrency 8". */
  metric: string;
  /** island's figure with its unit, e.g. "212 MiB/s". */
  island: string;
  /** The alternative's figure with its unit and name, e.g. "curl keep-alive 220 MiB/s". */
  baseline: string;
  /** island ÷ baseline, oriented so that higher is better for island (or as the goal states). */
  ratio: number;
  /** The goal, as the issue states it, e.g. "≥ 0.9×". */
  goal: string;
  pass: boolean;
}

export interface BenchmarkResult {
  rows: BenchmarkRow[];
  /** Free text: setup, caveats, the reasoning behind a choice the numbers support. */
  notes?: string[];
}

export interface BenchContext {
  /** A scratch directory for this benchmark; removed afterwards. */
  workDir: string;
  log(message: string): void;
}

export interface Benchmark {
  /** Short name used on the command line: `npm run bench -- <name>`. */
  name: string;
  title: string;
  run(ctx: BenchContext): Promise<BenchmarkResult>;
}

/** Throughput in MiB/s for `bytes` moved in `ms` milliseconds. */
export function mibPerSecond(bytes: number, ms: number): number {
  return bytes / (1024 * 1024) / (ms / 1000);
}

export function formatRatio(ratio: number): string {
  return `${ratio.toFixed(2)}×`;
}
