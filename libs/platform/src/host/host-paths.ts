import { resolve, sep } from 'node:path';

/** A job named a path outside this host's data directory: refused, never retried. */
export class PathOutsideDataDirError extends Error {
  readonly permanent = true;
  constructor(path: string, root: string) {
    super(`path ${path} is outside this host's data directory ${root}`);
    this.name = 'PathOutsideDataDirError';
  }
}

/** Every path a job names must lie inside this host's data directory: a job never touches other files. */
export function insideDataDir(dataDir: string, path: string): string {
  const root = resolve(dataDir);
  const full = resolve(path);
  if (!full.startsWith(root + sep)) throw new PathOutsideDataDirError(path, root);
  return full;
}
