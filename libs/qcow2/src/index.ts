export { checkImage, CheckResult } from './check';
export { createImage, CreateOptions } from './create-image';
export { diffSnapshots, DiffExtent, DiffResult } from './diff';
export { featureNames, Qcow2Header } from './header';
export { ImageInfo, OpenOptions, Qcow2Image, SnapshotInfo, View } from './qcow2-image';
export { ImageLockedError, ImageUsageError, InvalidImageError, Qcow2Error, UnsupportedFeatureError } from './qcow2-errors';
export { createSnapshot, deleteSnapshot, revertToSnapshot } from './snapshots';
export { growImage } from './grow';
export { openForWriting, WRITER_WAIT_MS } from './open-for-writing';
