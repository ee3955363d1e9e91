/** The internal qcow2 snapshot holding snapshot `seq`'s point in time (what `snapshot.point_in_time` names). */
export function snapshotPointInTime(seq: number): string {
  return `island-s${seq}`;
}

/** The point in time taken right after an image was restored (attach or revert) by operation `jobId`. */
export function restoredPointInTime(jobId: string): string {
  return `island-r${jobId.replace(/-/g, '').slice(0, 16)}`;
}
