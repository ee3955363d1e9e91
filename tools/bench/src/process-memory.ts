import { readFileSync, writeFileSync } from 'node:fs';
import { BenchmarkRow } from './benchmark';

/** A process's peak resident set since it started or since its peak was last reset (VmHWM), in bytes. */
export function peakRss(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmHWM:'));
  if (!line) throw new Error(`/proc/${pid}/status has no VmHWM`);
  return Number(line.split(/\s+/)[1]) * 1024;
}

/** Starts a new peak: the kernel sets VmHWM back to the current resident set (clear_refs 5, Linux ≥ 4.0; needs root or the owner). */
export function resetPeakRss(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}

/** The memory goal of every island process, whatever the volume's size (issue: memory bounded by design). */
export const RSS_LIMIT_MIB = 256;

/** A row judging a peak resident set (bytes) against RSS_LIMIT_MIB. */
export function peakRssRow(metric: string, peakBytes: number): BenchmarkRow {
  const mib = peakBytes / 2 ** 20;
  return {
    metric,
    island: `${mib.toFixed(0)} MiB`,
    baseline: `limit ${RSS_LIMIT_MIB} MiB`,
    ratio: RSS_LIMIT_MIB / mib,
    goal: `< ${RSS_LIMIT_MIB} MiB`,
    pass: mib < RSS_LIMIT_MIB,
  };
}
