import { access, constants, mkdir } from 'node:fs/promises';
import { ReadinessRegistry } from '../health/readiness.registry';

/** Registers a `data-dir` readiness check: the host's image directory exists (created once) and is writable. */
export function registerDataDirReadiness(readiness: ReadinessRegistry, dataDir: string, access_: 'read' | 'write'): void {
  readiness.register('data-dir', async () => {
    if (access_ === 'write') await mkdir(dataDir, { recursive: true });
    await access(dataDir, access_ === 'write' ? constants.W_OK | constants.R_OK : constants.R_OK);
  });
}
