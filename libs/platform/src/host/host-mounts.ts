import { readFileSync } from 'node:fs';

/** The FUSE mounts of this host, by mount point (/proc/self/mountinfo's fifth field, octal escapes undone). */
export function fuseMountPoints(): Set<string> {
  const points = new Set<string>();
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [before, after] = line.split(' - ');
    if (!after || !/^fuse(\.\S+)? /.test(after)) continue;
    const point = before.split(' ')[4];
    if (point) points.add(point.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8))));
  }
  return points;
}

/** `losetup` arguments listing every loop device with its backing file, one per line (read by loopDevicesIn). */
export const LOOP_DEVICE_LISTING = ['--list', '--noheadings', '--output', 'NAME,BACK-FILE'];

/**
 * The loop devices in a LOOP_DEVICE_LISTING, with their backing files by path: listing them by path works when the
 * file no longer answers (`--associated` stats it, which fails on a dead FUSE mount).
 */
export function loopDevicesIn(listing: string): { device: string; backingFile: string }[] {
  return listing
    .split('\n')
    .map((line) => /^(\S+)\s+(.+?)(?: \(deleted\))?\s*$/.exec(line.trim()))
    .filter((match): match is RegExpExecArray => match !== null)
    .map(([, device, backingFile]) => ({ device, backingFile }));
}

const LOOP_DEVICE = /^\/dev\/loop(\d+)$/;

/**
 * The loop devices to try, in order, for a file that needs a new one: the host's devices (`present`, e.g. read from
 * /dev) that are neither `bound` to a file nor `reserved` (named by another volume's record: its guest's configuration
 * may still name it), lowest first; then new ones past every number seen, which `losetup` creates.
 */
export function loopDeviceCandidates(present: readonly string[], bound: readonly string[], reserved: readonly string[], fresh = 4): string[] {
  const number = (device: string) => Number(LOOP_DEVICE.exec(device)?.[1] ?? -1);
  const taken = new Set([...bound, ...reserved]);
  const free = [...new Set(present)].filter((d) => LOOP_DEVICE.test(d) && !taken.has(d)).sort((a, b) => number(a) - number(b));
  const highest = Math.max(-1, ...[...present, ...taken].map(number));
  return [...free, ...Array.from({ length: fresh }, (_, i) => `/dev/loop${highest + 1 + i}`)];
}
