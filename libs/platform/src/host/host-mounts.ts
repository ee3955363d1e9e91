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
