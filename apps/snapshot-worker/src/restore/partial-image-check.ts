import { checkImage, Qcow2Image } from '@island/qcow2';

export type PartialImageCheck =
  | {
      sound: true;
      /** Clusters a crash left allocated but unused, released now. */
      leaksReleased: number;
      /** The image already holds the point in time: it was complete when the restore stopped. */
      hasPointInTime: boolean;
    }
  | { sound: false; why: string };

/**
 * Whether a partial image (opened for writing) can be the base of a resumed restore: the virtual size the restore
 * creates, no backing file, no point in time but the restore's own once it is complete, and qcow2's check finding no
 * errors. Leaked clusters, which a crash may leave, are released.
 */
export async function checkPartialImage(
  image: Qcow2Image,
  expected: { sizeBytes: number; pointInTime: string },
  complete: boolean,
): Promise<PartialImageCheck> {
  const { virtualSize, backingFile, snapshots } = image.info;
  const size = Math.ceil(expected.sizeBytes / 512) * 512; // as createImage rounds it
  if (virtualSize !== size) return { sound: false, why: `the partial image is ${virtualSize} bytes, the volume ${size}` };
  if (backingFile) return { sound: false, why: `the partial image has a backing file (${backingFile})` };
  const names = snapshots.map((s) => s.name);
  const hasPointInTime = complete && names.length === 1 && names[0] === expected.pointInTime;
  if (names.length > 0 && !hasPointInTime) return { sound: false, why: `the partial image holds points in time (${names.join(', ')})` };
  const check = await checkImage(image, { repair: true });
  if (check.errors > 0) return { sound: false, why: `qcow2 check of the partial image found ${check.errors} errors (${firstError(check.problems)})` };
  if (check.leaksFixed > 0) {
    const again = await checkImage(image);
    if (again.errors > 0) return { sound: false, why: `qcow2 check found ${again.errors} errors once leaks were released (${firstError(again.problems)})` };
  }
  return { sound: true, leaksReleased: check.leaksFixed, hasPointInTime };
}

function firstError(problems: string[]): string | undefined {
  return problems.find((p) => !p.includes(' leaked: '));
}
