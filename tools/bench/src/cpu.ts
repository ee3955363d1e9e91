import { readFileSync } from 'node:fs';

export const MIB = 1 << 20;
export const GIB = 1 << 30;

/** User + system CPU seconds a process has used so far (/proc/<pid>/stat, clock ticks of 1/100 s). */
export function processCpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** CPU seconds (this process, user + system) a piece of work takes. */
export function cpuSeconds(work: () => void): number {
  const before = process.cpuUsage();
  work();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1e6;
}

/** Runs `work` over 1 GiB of 1 MiB items: the sample items, cycled. */
export function overOneGiB<T>(items: T[], work: (item: T) => unknown): void {
  for (let i = 0; i < GIB / MIB; i++) work(items[i % items.length]);
}

/** The median of `rounds` measurements. */
export function medianOf(rounds: number, measure: () => number): number {
  const values = Array.from({ length: rounds }, measure).sort((a, b) => a - b);
  return values[Math.floor(values.length / 2)];
}
