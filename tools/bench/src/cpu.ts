import { readdirSync, readFileSync } from 'node:fs';

export const MIB = 1 << 20;
export const GIB = 1 << 30;

/** The fields of a /proc `stat` file after the command name (which may hold spaces and parentheses): [0] is the state. */
function statFields(path: string): string[] {
  const stat = readFileSync(path, 'utf8');
  return stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
}

/** User + system CPU seconds a process has used so far (/proc/<pid>/stat, clock ticks of 1/100 s). */
export function processCpuSeconds(pid: number): number {
  const fields = statFields(`/proc/${pid}/stat`);
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** A process's minor page faults so far (all its threads): memory it touched for the first time, or touched again after giving it back. */
export function processMinorFaults(pid: number): number {
  return Number(statFields(`/proc/${pid}/stat`)[7]);
}

/** A process's CPU seconds so far split by thread: its main (JavaScript) thread and the rest, user and system each. */
export interface ThreadCpu {
  mainUser: number;
  mainSystem: number;
  /** libuv's pool (file reads and writes, fdatasync) and V8's helpers (concurrent marking and sweeping). */
  otherUser: number;
  otherSystem: number;
}

export function processThreadCpu(pid: number): ThreadCpu {
  const split: ThreadCpu = { mainUser: 0, mainSystem: 0, otherUser: 0, otherSystem: 0 };
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let fields: string[];
    try {
      fields = statFields(`/proc/${pid}/task/${tid}/stat`);
    } catch {
      continue; // a thread that ended meanwhile
    }
    const [user, system] = [Number(fields[11]) / 100, Number(fields[12]) / 100];
    if (tid === String(pid)) {
      split.mainUser += user;
      split.mainSystem += system;
    } else {
      split.otherUser += user;
      split.otherSystem += system;
    }
  }
  return split;
}

/** `after` less `before`, field by field. */
export function threadCpuSince(before: ThreadCpu, after: ThreadCpu): ThreadCpu {
  return {
    mainUser: after.mainUser - before.mainUser,
    mainSystem: after.mainSystem - before.mainSystem,
    otherUser: after.otherUser - before.otherUser,
    otherSystem: after.otherSystem - before.otherSystem,
  };
}

/** CPU seconds (this process, user + system) a piece of work takes. */
export function cpuSeconds(work: () => void): number {
  const before = process.cpuUsage();
  work();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1e6;
}

/** Runs `work` over 1 GiB of items of `mibEach` MiB (1 MiB blocks, or batches of them): the sample items, cycled. */
export function overOneGiB<T>(items: T[], work: (item: T) => unknown, mibEach = 1): void {
  for (let i = 0; i < GIB / MIB / mibEach; i++) work(items[i % items.length]);
}

/** The median of `rounds` measurements. */
export function medianOf(rounds: number, measure: () => number): number {
  const values = Array.from({ length: rounds }, measure).sort((a, b) => a - b);
  return values[Math.floor(values.length / 2)];
}
