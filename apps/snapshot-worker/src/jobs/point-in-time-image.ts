import { insideDataDir } from '@island/platform';
import { Qcow2Image, retryingTornReads, View } from '@island/qcow2';

/**
 * Opens a volume's image on this host (read-only, its path checked to be inside the data dir) with a view of one of its
 * points in time. The agent may be rewriting the snapshot table beside this read: a torn read is read again. The
 * caller closes the image.
 */
export async function openPointInTime(dataDir: string, path: string, pointInTime: string): Promise<{ image: Qcow2Image; view: View }> {
  return retryingTornReads(async () => {
    const image = await Qcow2Image.open(insideDataDir(dataDir, path));
    try {
      return { image, view: await image.snapshotView(pointInTime) };
    } catch (error) {
      await image.close();
      throw error;
    }
  });
}
