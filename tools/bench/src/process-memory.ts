import { readFileSync, writeFileSync } from 'node:fs';

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
