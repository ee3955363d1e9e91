import { existsSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * One JSON file per volume in a directory of the agent's (`<dir>/<volume id>.json`), each replaced whole (written
 * beside it and synced, then renamed): a record read after a crash or a power loss is an old one or a new one, never
 * half of one.
 */
export class VolumeRecords<T extends { volumeId: string }> {
  /** `onUnreadable`: told of a record `all()` leaves out because it cannot be read (the others are still listed). */
  constructor(
    readonly dir: string,
    private readonly onUnreadable: (path: string, error: Error) => void = () => undefined,
  ) {}

  path(volumeId: string): string {
    return join(this.dir, `${volumeId}.json`);
  }

  async save(record: T): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const partial = `${this.path(record.volumeId)}.partial`;
    const file = await open(partial, 'w', 0o600);
    try {
      await file.writeFile(JSON.stringify(record));
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(partial, this.path(record.volumeId));
  }

  async get(volumeId: string): Promise<T | undefined> {
    if (!isVolumeId(volumeId) || !existsSync(this.path(volumeId))) return undefined;
    return JSON.parse(await readFile(this.path(volumeId), 'utf8')) as T;
  }

  async all(): Promise<T[]> {
    if (!existsSync(this.dir)) return [];
    const names = (await readdir(this.dir)).filter((n) => n.endsWith('.json'));
    const records: T[] = [];
    for (const name of names) {
      const record = await this.get(name.slice(0, -'.json'.length)).catch((error: Error) => {
        this.onUnreadable(join(this.dir, name), error);
        return undefined;
      });
      if (record) records.push(record);
    }
    return records;
  }

  async remove(volumeId: string): Promise<void> {
    await rm(this.path(volumeId), { force: true });
  }
}

function isVolumeId(name: string): boolean {
  return /^[0-9a-f-]{36}$/.test(name);
}
