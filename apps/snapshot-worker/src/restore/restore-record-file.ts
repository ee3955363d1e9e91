import { open, readFile, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { RestoreRecord } from './restore-record';

/**
 * A progress record on disk, replaced atomically: written to a temporary file, fsynced, renamed over the old one, and
 * the directory fsynced. After a crash, or a power cut, the file holds the last record completely or none at all.
 */
export class RestoreRecordFile {
  constructor(readonly path: string) {}

  /** The stored record's text, or undefined when there is none. */
  async read(): Promise<string | undefined> {
    try {
      return await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  async write(record: RestoreRecord): Promise<void> {
    const temporary = `${this.path}.tmp`;
    const handle = await open(temporary, 'w');
    try {
      await handle.writeFile(JSON.stringify(record));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, this.path);
    await syncDirectory(dirname(this.path));
  }

  /** Removes the record for good (durably: it must never reappear beside an image it does not describe). */
  async remove(): Promise<void> {
    await rm(this.path, { force: true });
    await rm(`${this.path}.tmp`, { force: true });
    await syncDirectory(dirname(this.path));
  }
}

/** Makes the directory's entries (creations, renames, removals) durable. */
export async function syncDirectory(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
