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
  if (PROTOCOL_URL.test(name)) return remoteBacking(name, header.size);
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

/** A backing file name that is a protocol URL (e.g. `nbd+unix:///…`): a server QEMU reads, not a file. */
const PROTOCOL_URL = /^[a-z][a-z0-9+.-]*:\/\//i;

/**
 * A backing served over a protocol (a volume still filling from its snapshot): its metadata and allocated clusters read
 * as usual, but bytes under an unallocated cluster are only on the server, so reading them is refused, never zeros.
 */
function remoteBacking(name: string, size: number): BackingSource {
  return {
    size,
    read: () => Promise.reject(new ImageUsageError(`the image's backing ${name} is served over a protocol: its bytes are not in a file here`)),
    close: () => Promise.resolve(),
  };
}
