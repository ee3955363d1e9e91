import { In } from 'typeorm';
import { SnapshotStatus } from '@island/catalog';

/** Snapshots of a volume that are not finished uploading: the volume's image must not change under them. */
export const IN_FLIGHT_STATUSES: SnapshotStatus[] = ['creating', 'pending', 'uploading', 'committing'];
export const IN_FLIGHT_SNAPSHOT = In(IN_FLIGHT_STATUSES);

/** The internal qcow2 snapshot holding snapshot `seq`'s point in time. */
export function snapshotPointInTime(seq: number): string {
  return `island-s${seq}`;
}

/** The point in time taken right after an image was restored (attach or revert) by operation `jobId`. */
export function restoredPointInTime(jobId: string): string {
  return `island-r${jobId.replace(/-/g, '').slice(0, 16)}`;
}
