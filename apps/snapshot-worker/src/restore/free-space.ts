import { statfs } from 'node:fs/promises';

/** Room kept free beside what a restore writes: qcow2 metadata, the progress record, other volumes' growth. */
export const FREE_SPACE_MARGIN_BYTES = 64 * 1024 * 1024;

/** The host's disk cannot take what a job would write: refused before it starts, never retried. */
export class InsufficientSpaceError extends Error {
  readonly permanent = true;
  constructor(
    readonly dir: string,
    readonly freeBytes: number,
    readonly neededBytes: number,
    what: string,
  ) {
    super(`${what} needs ${gib(neededBytes)} GiB (+${gib(FREE_SPACE_MARGIN_BYTES)} GiB margin) but ${dir} has ${gib(freeBytes)} GiB free`);
    this.name = 'InsufficientSpaceError';
  }
}

/** Throws unless the file system holding `dir` has `bytes` plus the margin free (for an unprivileged writer). */
export async function assertRoomFor(dir: string, bytes: number, what: string): Promise<void> {
  const fs = await statfs(dir);
  const free = fs.bavail * fs.bsize;
  if (bytes + FREE_SPACE_MARGIN_BYTES > free) throw new InsufficientSpaceError(dir, free, bytes, what);
}

function gib(bytes: number): string {
  return (bytes / 1024 ** 3).toFixed(2);
}
