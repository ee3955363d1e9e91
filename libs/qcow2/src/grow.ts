import { Qcow2Image } from './qcow2-image';
import { ImageUsageError } from './qcow2-errors';
import { MAX_L1_BYTES } from './limits';

/**
 * Grows the virtual size (never shrinks); the L1 table moves to a larger place when it must. Sizes are whole
 * 512-byte sectors, as QEMU keeps them: a size in between is rounded up.
 */
export async function growImage(image: Qcow2Image, requested: number): Promise<void> {
  const size = Math.ceil(requested / 512) * 512;
  if (!Number.isSafeInteger(size) || size < image.header.size) {
    throw new ImageUsageError(`cannot resize ${image.path} from ${image.header.size} to ${size} bytes: only growing is supported`);
  }
  const needed = Math.ceil(Math.ceil(size / image.clusterSize) / image.l2Entries);
  if (needed * 8 > MAX_L1_BYTES) throw new ImageUsageError(`virtual size ${size} needs an L1 table over 32 MiB`);
  const active = image.activeView();
  if (needed > active.l1.length) {
    const l1 = new BigUint64Array(needed);
    l1.set(active.l1);
    await image.replaceActiveL1(l1);
  }
  // one header write names the new L1 table and the new size together
  image.setVirtualSize(size);
  await image.flush();
}
