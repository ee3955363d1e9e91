import { open as openFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { Qcow2Header } from './header';
import { ImageFile } from './image-file';
import { QCOW_MAGIC } from './limits';
import { ImageUsageError } from './qcow2-errors';

/** A source of guest bytes under unallocated clusters. */
export interface BackingSource {
  readonly size: number;
  read(offset: number, length: number): Promise<Buffer>;
  close(): Promise<void>;
}

/**
 * Opens the backing file an image names (relative to the image's folder): a qcow2 one through `openQcow2`,
 * which the image class passes in (this module cannot import it), anything else as raw bytes.
 */
export async function openBacking(imagePath: string, header: Qcow2Header, openQcow2: (path: string) => Promise<BackingSource>): Promise<BackingSource> {
  const name = header.backingFile as string;
  const path = isAbsolute(name) ? name : resolve(dirname(imagePath), name);
  const magic = Buffer.alloc(4);
  const handle = await openFile(path, 'r').catch((error: Error) => {
    throw new ImageUsageError(`backing file ${name} cannot be opened: ${error.message}`);
  });
  await handle.read(magic, 0, 4, 0);
  const isQcow2 = header.backingFormat ? header.backingFormat === 'qcow2' : magic.readUInt32BE(0) === QCOW_MAGIC;
  if (isQcow2) {
    await handle.close();
    return openQcow2(path);
  }
  const size = (await stat(path)).size;
  const file = new ImageFile(handle, size);
  return {
    size,
    read: async (o, l) => {
      const out = Buffer.alloc(l);
      await file.readData(o, out);
      return out;
    },
    close: () => handle.close(),
  };
}
