/** The API's resource shapes, as the CLI reads them. */
export interface VolumeView {
  id: string;
  name: string;
  projectId: string;
  region: string;
  sizeBytes: number;
  status: string;
  statusReason: string | null;
  host: string | null;
  attached: boolean;
  connection: { path: string; format: string; host: string; nbd?: string; raw?: string; device?: string } | null;
  sourceSnapshotId: string | null;
  /** Made from a snapshot and attached with an export: still filling from it (null once whole). */
  fill: { status: 'filling' | 'failed'; doneBytes: number; totalBytes: number; percent: number; reason: string | null } | null;
  createdAt: string;
}

export interface SnapshotView {
  id: string;
  volumeId: string;
  name: string;
  region: string;
  status: string;
  statusReason: string | null;
  progress: number;
  sizeBytes: number;
  bytesChanged: number;
  bytesUploaded: number;
  blocksTotal: number;
  blocksDone: number;
  blocksUploaded: number;
  blocksReused: number;
  createdAt: string;
  committedAt: string | null;
  copyOf: string | null;
  copiedFrom: string | null;
  groupId: string | null;
  /** Deleted at; a snapshot in the recycle bin (status recycled) is purged after purgeAfter. */
  deletedAt: string | null;
  purgeAfter: string | null;
  /** A block it needs is lost in Swift (found by a scrub or fsck, no other region held it): restoring it would fail. */
  damaged: boolean;
  damagedReason: string | null;
  /** GET of one snapshot: every region holding its content. */
  regions?: { region: string; snapshotId: string; status: string }[];
}

export interface HostView {
  name: string;
  region: string;
  status: string;
  /** The admin's view only. */
  dataDir?: string;
  capacityBytes?: number;
  freeBytes?: number;
  lastSeenAt: string;
}

export interface OperationView {
  id: string;
  kind: string;
  status: 'running' | 'succeeded' | 'failed';
  progress: number;
  resourceType: string;
  resourceId: string;
  error: string | null;
  result: Record<string, unknown> | null;
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
}

export interface RunningOperationView extends OperationView {
  idleSeconds: number;
  deadlineSeconds: number;
}

export interface RegionView {
  name: string;
  default: boolean;
  swiftAuthUrl: string;
  container: string;
  hostsOnline: number;
  volumes: number;
  snapshots: number;
}

export interface DeadLetterView {
  id: string;
  contract: string;
  version: number | null;
  routingKey: string;
  queue: string | null;
  reason: string;
  payload: unknown;
  failedAt: string;
  retriedAt: string | null;
}
