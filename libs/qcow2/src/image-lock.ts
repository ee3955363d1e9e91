import { readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { ImageLockedError } from './qcow2-errors';

export interface WriterLock {
  release(): Promise<void>;
}

/**
 * One writer per image. QEMU takes OFD byte-range locks on its images (bytes 100.. and 200.. of the file);
 * Node cannot take those, but it can see them in /proc/locks, so an image QEMU holds is refused. Between
 * island processes the lock is `<image>.lock`, created exclusively and holding the owner's pid; a lock
 * whose process is gone is taken over.
 */
export async function acquireWriterLock(path: string): Promise<WriterLock> {
  await refuseIfQemuHolds(path);
  const lockPath = `${path}.lock`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(lockPath, `${process.pid}\n`, { flag: 'wx' });
      let released = false;
      return {
        release: async () => {
          if (released) return;
          released = true;
          await unlink(lockPath).catch(() => undefined);
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number((await readFile(lockPath, 'utf8').catch(() => '')).trim());
      if (owner && owner !== process.pid && isProcessAlive(owner)) {
        throw new ImageLockedError(`${path} is open for writing by process ${owner} (lock file ${lockPath})`);
      }
      if (owner === process.pid) throw new ImageLockedError(`${path} is already open for writing in this process`);
      await unlink(lockPath).catch(() => undefined); // stale: its owner is gone
    }
  }
  throw new ImageLockedError(`${path}: could not take the writer lock ${lockPath}`);
}

/** A process with this pid runs (EPERM: it runs as another user). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** QEMU's permission locks: shared/exclusive bytes at 100+perm and 200+perm (block/file-posix.c). */
async function refuseIfQemuHolds(path: string): Promise<void> {
  let locks: string;
  let inode: number;
  try {
    locks = await readFile('/proc/locks', 'utf8');
    inode = (await stat(path)).ino;
  } catch {
    return; // no /proc (not Linux) or no file yet: nothing to see
  }
  for (const line of locks.split('\n')) {
    // "1: OFDLCK ADVISORY  READ  -1 08:01:1835043 100 100"
    const parts = line.trim().split(/\s+/);
    if (parts.length < 8) continue;
    const [, kind, , mode, pid, device, start] = parts;
    const lockInode = Number(device.split(':')[2]);
    const byte = Number(start);
    if (lockInode === inode && (kind === 'OFDLCK' || kind === 'POSIX') && byte >= 100 && byte < 300) {
      const who = pid === '-1' ? 'a QEMU process' : `process ${pid}`;
      throw new ImageLockedError(`${path} is in use by ${who} (it holds a ${mode.toLowerCase()} lock on byte ${byte}); stop it or detach first`);
    }
  }
}
