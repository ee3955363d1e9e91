import { ImageLockedError } from './qcow2-errors';
import { OpenOptions, Qcow2Image } from './qcow2-image';

/** How long a writer waits by default for another one to let go of the image. */
export const WRITER_WAIT_MS = 15_000;
const POLL_MS = 200;

/**
 * Opens an image for writing, waiting up to `waitMs` while another process holds it. A writer that lets go
 * within the window is followed promptly instead of after the broker's next retry delay; one that keeps
 * the image longer gets the ImageLockedError, and the message is retried later.
 */
export async function openForWriting(path: string, waitMs = WRITER_WAIT_MS, options: Omit<OpenOptions, 'writable'> = {}): Promise<Qcow2Image> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      return await Qcow2Image.open(path, { ...options, writable: true });
    } catch (error) {
      if (!(error instanceof ImageLockedError) || Date.now() >= deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }
}
