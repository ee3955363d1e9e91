import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** An ext4 file system on a sparse file (a loop device): it reports `sizeBytes` free while its file holds what is written. */
export interface SparseFilesystem {
  mountPoint: string;
  remove(): void;
}

/**
 * Mounts a file system of `sizeBytes` on a sparse file in `workDir` (root and loop devices needed). A host's free-space
 * checks (the API's placement, the worker's before a restore) then see room for a volume larger than this disk, while
 * only the bytes actually written take space. Where it cannot be made, the reason.
 */
export function sparseFilesystem(workDir: string, sizeBytes: number): SparseFilesystem | { unavailable: string } {
  const backing = join(workDir, 'sparse-filesystem.img');
  const mountPoint = join(workDir, 'sparse-filesystem');
  let device: string | undefined;
  let mounted = false;
  const remove = () => {
    if (mounted) execFileSync('umount', [mountPoint]);
    if (device) execFileSync('losetup', ['-d', device]);
    rmSync(backing, { force: true });
    rmSync(mountPoint, { recursive: true, force: true });
  };
  try {
    writeFileSync(backing, '');
    truncateSync(backing, sizeBytes);
    device = execFileSync('losetup', ['-f', '--show', backing], { stdio: ['ignore', 'pipe', 'pipe'] })
      .toString()
      .trim();
    execFileSync('mkfs.ext4', ['-q', '-F', '-E', 'lazy_itable_init=1,lazy_journal_init=1', device], { stdio: ['ignore', 'pipe', 'pipe'] });
    mkdirSync(mountPoint, { recursive: true });
    execFileSync('mount', [device, mountPoint], { stdio: ['ignore', 'pipe', 'pipe'] });
    mounted = true;
    return { mountPoint, remove };
  } catch (error) {
    try {
      remove();
    } catch {
      // the reason given is the first failure's
    }
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
    return { unavailable: stderr || (error as Error).message };
  }
}
