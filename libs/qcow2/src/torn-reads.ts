import { Qcow2Error } from './qcow2-errors';

/**
 * Reads metadata of an image another process writes (a storage daemon serving a guest, an agent dropping an
 * older point in time): the header, the snapshot table and the refcounts may be seen half-rewritten, e.g. a
 * snapshot table offset beyond the file size seen at open. A fresh attempt sees a consistent state; a real
 * corruption fails every attempt and stays an error. `read` must be safe to repeat (open, read, close).
 */
export async function retryingTornReads<T>(read: () => Promise<T>, attempts = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await read();
    } catch (error) {
      if (!(error instanceof Qcow2Error) || attempt >= attempts) throw error;
      await new Promise((r) => setTimeout(r, 50 * attempt));
    }
  }
}
