import { Column, Entity, PrimaryColumn } from 'typeorm';
import { bigintToNumber } from './bigint.transformer';

export const VOLUME_STATUSES = [
  'available', // no host work in progress; the image may or may not exist yet (lazy placement)
  'attaching', // the image is being created or restored on the host
  'in-use', // attached on `host`
  'detaching',
  'reverting',
  'extending',
  'deleting',
  'deleted',
  'error',
  'creating', // made from a snapshot of another region: waiting for the copy into its region
  'replica', // hidden: holds the copies of another volume's snapshots in this region (replica_of)
] as const;
export type VolumeStatus = (typeof VOLUME_STATUSES)[number];

/**
 * How the host's qemu-storage-daemon serves an attached volume: 'nbd', an NBD export on its unix socket;
 * 'raw', a file showing the volume's raw bytes (a FUSE export) for clients that open a path; 'block', that file
 * behind a loop block device, for clients that need a block device (Nova's libvirt driver for `local` volumes).
 */
export const EXPORT_KINDS = ['nbd', 'raw', 'block'] as const;
export type ExportKind = (typeof EXPORT_KINDS)[number];

export type FillStatus = 'filling' | 'failed';

@Entity('volume')
export class VolumeEntity {
  @PrimaryColumn('uuid') id!: string;
  @Column({ name: 'project_id', type: 'text' }) projectId!: string;
  @Column('text') name!: string;
  @Column('text') region!: string;
  @Column({ name: 'size_bytes', type: 'bigint', transformer: bigintToNumber }) sizeBytes!: number;
  @Column({ name: 'block_size', type: 'integer' }) blockSize!: number;
  @Column('text') status!: VolumeStatus;
  @Column({ name: 'status_reason', type: 'text', nullable: true }) statusReason!: string | null;
  /** The host whose disk holds the image; null until the first attach creates it there. */
  @Column({ type: 'text', nullable: true }) host!: string | null;
  @Column({ name: 'image_path', type: 'text', nullable: true }) imagePath!: string | null;
  @Column('boolean') attached!: boolean;
  /** Attached through the host's storage daemon, asked for at attach; null in file mode. */
  @Column({ name: 'export_kind', type: 'text', nullable: true }) exportKind!: ExportKind | null;
  /** Where the VM connects while exported. */
  @Column({ name: 'nbd_uri', type: 'text', nullable: true }) nbdUri!: string | null;
  /** While exported as 'raw': the file on the host that shows the volume's bytes (the daemon's FUSE export). */
  @Column({ name: 'raw_path', type: 'text', nullable: true }) rawPath!: string | null;
  /** While exported as 'block': the loop device over `rawPath`. */
  @Column({ name: 'block_device', type: 'text', nullable: true }) blockDevice!: string | null;
  /** 'cinder': created through Cinder's RPC; null: through island's own API. */
  @Column({ name: 'managed_by', type: 'text', nullable: true }) managedBy!: 'cinder' | null;
  /** A replica: the (user) volume whose snapshots' copies in this region it holds. */
  @Column({ name: 'replica_of', type: 'uuid', nullable: true }) replicaOf!: string | null;
  @Column({ name: 'source_snapshot_id', type: 'uuid', nullable: true }) sourceSnapshotId!: string | null;
  /** The sequence number the next snapshot (or revert) of this volume takes. */
  @Column({ name: 'next_seq', type: 'integer' }) nextSeq!: number;
  /** The sequence number of the last commit, revert or seed: the head block versions are its content. */
  @Column({ name: 'head_seq', type: 'integer' }) headSeq!: number;
  /** A snapshot whose manifest holds exactly the head content, when there is one. */
  @Column({ name: 'head_snapshot_id', type: 'uuid', nullable: true }) headSnapshotId!: string | null;
  /** The internal qcow2 snapshot on the host that equals the head content (the next diff's base). */
  @Column({ name: 'point_in_time', type: 'text', nullable: true }) pointInTime!: string | null;
  /** Made lazily from a snapshot: 'filling' while its image still reads missing blocks from it, 'failed' when that stopped. */
  @Column({ name: 'fill_status', type: 'text', nullable: true }) fillStatus!: FillStatus | null;
  @Column({ name: 'fill_done', type: 'bigint', transformer: bigintToNumber }) fillDone!: number;
  @Column({ name: 'fill_total', type: 'bigint', transformer: bigintToNumber }) fillTotal!: number;
  @Column({ name: 'fill_reason', type: 'text', nullable: true }) fillReason!: string | null;
  @Column({ name: 'created_at', type: 'timestamptz', default: () => 'now()' }) createdAt!: Date;
  @Column({ name: 'updated_at', type: 'timestamptz', default: () => 'now()' }) updatedAt!: Date;
  @Column({ name: 'deleted_at', type: 'timestamptz', nullable: true }) deletedAt!: Date | null;
}

/** On no host: no image, nothing attached or exported, no point in time (the content is the head in Swift). */
export const NOT_PLACED = {
  host: null,
  imagePath: null,
  attached: false,
  exportKind: null,
  nbdUri: null,
  rawPath: null,
  blockDevice: null,
  pointInTime: null,
  fillStatus: null,
  fillDone: 0,
  fillTotal: 0,
  fillReason: null,
} as const satisfies Partial<VolumeEntity>;

/** A new volume's placement and lineage fields: on no host yet, no snapshot taken, nothing attached. */
export const UNPLACED_VOLUME = {
  ...NOT_PLACED,
  statusReason: null,
  nextSeq: 1,
  headSeq: 0,
  headSnapshotId: null,
  deletedAt: null,
} as const satisfies Partial<VolumeEntity>;
