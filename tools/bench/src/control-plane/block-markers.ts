import { randomBytes } from 'node:crypto';
import { Qcow2Image } from '@island/qcow2';

/** Bytes that make each block distinct: the rest of the block reads as zeros. */
export const MARKER_BYTES = 32;

/**
 * Gives every block of an image new, distinct content: random bytes at its start, zeros after. Each block then has
 * a name of its own (no dedup: every block is claimed and PUT) while its sealed object is ~100 bytes and a write
 * allocates one 64 KiB cluster, so the data plane per block (read, name, compress, seal, PUT, restore write) is
 * as small as distinct content allows.
 */
export async function writeBlockMarkers(path: string, blocks: number, blockSize: number): Promise<void> {
  const image = await Qcow2Image.open(path, { writable: true });
  try {
    for (let index = 0; index < blocks; index++) await image.write(index * blockSize, randomBytes(MARKER_BYTES));
  } finally {
    await image.close();
  }
}
