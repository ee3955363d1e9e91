/** Every rejection of an image names what is wrong and where. */
export class Qcow2Error extends Error {
  /** The same image refuses the same way again: a job failing with it is not retried. */
  readonly permanent: boolean = true;
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The image breaks the format or its limits: a field, its value and why it is refused. */
export class InvalidImageError extends Qcow2Error {
  constructor(
    readonly field: string,
    readonly value: string | number | bigint,
    reason: string,
  ) {
    super(`${field} ${typeof value === 'number' || typeof value === 'bigint' ? hex(value) : value} ${reason}`);
  }
}

/** A valid image using something this implementation does not do (encryption, external data file…). */
export class UnsupportedFeatureError extends Qcow2Error {}

/** Another process holds the image for writing (QEMU or another island process). */
export class ImageLockedError extends Qcow2Error {
  override readonly permanent = false; // the other writer lets go: retried
}

/** A request that makes no sense for this image (read beyond its end, unknown snapshot…). */
export class ImageUsageError extends Qcow2Error {}

export function hex(value: number | bigint): string {
  return `0x${value.toString(16)}`;
}
