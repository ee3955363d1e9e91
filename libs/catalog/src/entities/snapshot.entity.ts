import { Column, Entity, PrimaryColumn } from 'typeorm';
import { bigintToNumber } from './bigint.transformer';

export const SNAPSHOT_STATUSES = [
  'creating', // the point in time is being taken on the host
  'pending', // the point in time is safe on the host; waiting for the volume's earlier snapshots to commit
  'uploading', // changed blocks are being uploaded by snapshot workers
  'committing', // every block is in Swift; the catalog commit is next
  'sealing', // committed in the catalog; its manifest is being written to Swift
  'available',
  'deleting',
  'recycled', // deleted, but kept restorable (its versions and manifest) until purge_after; then deleted
  'deleted',
  'error',
] as const;
export type SnapshotStatus = (typeof SNAPSHOT_STATUSES)[number];

/** What a copy's worker reports once every block is in the region: its block map's entries, distinct blocks and batches. */
export interface CopyTransferReport {
  entries: number;
  distinctBlocks: number;
  batches: number;
}

/** Snapshots whose block versions are in the ledger (they hold references); a recycled one keeps its own until purged. */
export const LEDGER_STATUSES: readonly SnapshotStatus[] = ['sealing', 'available', 'recycled'];

/** A new snapshot's progress and transfer counters. */
export const NEW_SNAPSHOT_COUNTERS = {
  blocksTotal: 0,
  blocksDone: 0,
  bytesChanged: 0,
  bytesUploaded: 0,
  blocksUploaded: 0,
  blocksReused: 0,
  bytesStored: 0,
} as const;

@Entity('snapshot')
export class SnapshotEntity {
  @PrimaryColumn('uuid') id!: string;
  @Column({ name: 'volume_id', type: 'uuid' }) volumeId!: string;
  @Column({ name: 'project_id', type: 'text' }) projectId!: string;
  @Column('text') region!: string;
  @Column('integer') seq!: number;
  @Column('text') name!: string;
  @Column('text') status!: SnapshotStatus;
  @Column({ name: 'status_reason', type: 'text', nullable: true }) statusReason!: string | null;
  @Column({ name: 'point_in_time', type: 'text', nullable: true }) pointInTime!: string | null;
  @Column({ name: 'size_bytes', type: 'bigint', transformer: bigintToNumber }) sizeBytes!: number;
  @Column({ name: 'block_size', type: 'integer' }) blockSize!: number;
  @Column({ name: 'manifest_object', type: 'text', nullable: true }) manifestObject!: string | null;
  /** Its manifest was written sealed (a plain one under its name is a replacement, refused). */
  @Column({ name: 'manifest_sealed', type: 'boolean', default: false }) manifestSealed!: boolean;
  @Column({ name: 'blocks_total', type: 'integer' }) blocksTotal!: number;
  @Column({ name: 'blocks_done', type: 'integer' }) blocksDone!: number;
  @Column({ name: 'bytes_changed', type: 'bigint', transformer: bigintToNumber }) bytesChanged!: number;
  @Column({ name: 'bytes_uploaded', type: 'bigint', transformer: bigintToNumber }) bytesUploaded!: number;
  @Column({ name: 'blocks_uploaded', type: 'integer' }) blocksUploaded!: number;
  @Column({ name: 'blocks_reused', type: 'integer' }) blocksReused!: number;
  @Column({ name: 'bytes_stored', type: 'bigint', transformer: bigintToNumber }) bytesStored!: number;
  /** A copy in another region: the original snapshot it is a copy of (null for an original). */
  @Column({ name: 'copy_of', type: 'uuid', nullable: true }) copyOf!: string | null;
  /** A copy: the snapshot (original or copy, in another region) whose blocks it was copied from. */
  @Column({ name: 'copied_from', type: 'uuid', nullable: true }) copiedFrom!: string | null;
  /** A copy whose worker reported every block there, waiting for its last batches to be counted (then it commits). */
  @Column({ name: 'copy_transfer', type: 'jsonb', nullable: true }) copyTransfer!: CopyTransferReport | null;
  @Column({ name: 'group_id', type: 'uuid', nullable: true }) groupId!: string | null;
  /** Why a block it needs is lost (missing or corrupt in Swift, no other region held it), from the last scrub; null: whole. */
  @Column({ name: 'damaged_reason', type: 'text', nullable: true }) damagedReason!: string | null;
  @Column({ name: 'damaged_at', type: 'timestamptz', nullable: true }) damagedAt!: Date | null;
  @Column({ name: 'created_at', type: 'timestamptz', default: () => 'now()' }) createdAt!: Date;
  @Column({ name: 'updated_at', type: 'timestamptz', default: () => 'now()' }) updatedAt!: Date;
  @Column({ name: 'committed_at', type: 'timestamptz', nullable: true }) committedAt!: Date | null;
  @Column({ name: 'deleted_at', type: 'timestamptz', nullable: true }) deletedAt!: Date | null;
  /** A recycled snapshot: when the purge drops it (its versions, then GC its blocks and manifest). */
  @Column({ name: 'purge_after', type: 'timestamptz', nullable: true }) purgeAfter!: Date | null;
  /** The recycle-bin marker GC last wrote for it in Swift (ledger/recycle-markers.ts); read by a catalog rebuild. */
  @Column({ name: 'recycle_marker', type: 'text', nullable: true }) recycleMarker!: string | null;
}
