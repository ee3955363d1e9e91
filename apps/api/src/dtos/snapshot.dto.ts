import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsOptional, IsString, IsUUID, Matches, MaxLength } from 'class-validator';
import { SnapshotEntity, SnapshotStatus } from '@island/catalog';

export class CreateSnapshotDto {
  @ApiProperty()
  @IsUUID()
  volumeId!: string;

  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @MaxLength(255)
  name?: string;
}

export class CreateSnapshotGroupDto {
  @ApiProperty({ type: String, isArray: true, description: 'Volumes to snapshot at one instant (placed ones on one host)' })
  @IsArray()
  @ArrayMinSize(2)
  @ArrayMaxSize(64)
  @IsUUID('all', { each: true })
  volumeIds!: string[];

  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @MaxLength(255)
  name?: string;
}

export class CopySnapshotDto {
  @ApiProperty({ description: 'The region to copy the snapshot into' })
  @Matches(/^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/, { message: 'region must be a region name' })
  region!: string;
}

export class SnapshotPlacementView {
  @ApiProperty() region!: string;
  @ApiProperty() snapshotId!: string;
  @ApiProperty() status!: SnapshotStatus;
}

export class SnapshotView {
  @ApiProperty() id!: string;
  @ApiProperty() volumeId!: string;
  @ApiProperty() projectId!: string;
  @ApiProperty() region!: string;
  @ApiProperty() name!: string;
  @ApiProperty() status!: SnapshotStatus;
  @ApiPropertyOptional({ nullable: true, type: String }) statusReason!: string | null;
  @ApiProperty({ description: 'Percent done, 0–100' }) progress!: number;
  @ApiProperty() sizeBytes!: number;
  @ApiProperty() blockSize!: number;
  @ApiProperty({ description: 'Guest bytes in clusters changed since the previous snapshot' }) bytesChanged!: number;
  @ApiProperty({ description: 'Bytes PUT to Swift (compressed)' }) bytesUploaded!: number;
  @ApiProperty() blocksTotal!: number;
  @ApiProperty() blocksDone!: number;
  @ApiProperty() blocksUploaded!: number;
  @ApiProperty({ description: 'Changed blocks already in Swift (deduplicated)' }) blocksReused!: number;
  @ApiProperty() createdAt!: string;
  @ApiPropertyOptional({ nullable: true, type: String }) committedAt!: string | null;
  @ApiPropertyOptional({ nullable: true, type: String, description: 'A copy: the original snapshot (in another region)' })
  copyOf!: string | null;
  @ApiPropertyOptional({ nullable: true, type: String, description: 'A copy: the snapshot its blocks were copied from' })
  copiedFrom!: string | null;
  @ApiPropertyOptional({ type: SnapshotPlacementView, isArray: true, description: 'Every region holding this content (shown by GET one snapshot)' })
  regions?: SnapshotPlacementView[];
  @ApiPropertyOptional({ nullable: true, type: String, description: 'Taken at one instant with the other snapshots of this group' })
  groupId!: string | null;
  @ApiPropertyOptional({ nullable: true, type: String, description: 'Deleted (a recycled snapshot: into the recycle bin) at' })
  deletedAt!: string | null;
  @ApiPropertyOptional({ nullable: true, type: String, description: 'A recycled snapshot: when the purge drops it (until then `undelete` brings it back)' })
  purgeAfter!: string | null;
  @ApiProperty({
    description: 'A block it needs is lost in Swift (a scrub or fsck found it missing or corrupt and no other region held it): a restore would fail',
  })
  damaged!: boolean;
  @ApiPropertyOptional({ nullable: true, type: String, description: 'Which block, how it was lost, and where a repair was tried' })
  damagedReason!: string | null;

  static of(s: SnapshotEntity): SnapshotView {
    return {
      id: s.id,
      volumeId: s.volumeId,
      projectId: s.projectId,
      region: s.region,
      name: s.name,
      status: s.status,
      statusReason: s.statusReason,
      progress: snapshotProgress(s),
      sizeBytes: s.sizeBytes,
      blockSize: s.blockSize,
      bytesChanged: s.bytesChanged,
      bytesUploaded: s.bytesUploaded,
      blocksTotal: s.blocksTotal,
      blocksDone: s.blocksDone,
      blocksUploaded: s.blocksUploaded,
      blocksReused: s.blocksReused,
      createdAt: s.createdAt.toISOString(),
      committedAt: s.committedAt?.toISOString() ?? null,
      copyOf: s.copyOf,
      copiedFrom: s.copiedFrom,
      groupId: s.groupId,
      deletedAt: s.deletedAt?.toISOString() ?? null,
      purgeAfter: s.purgeAfter?.toISOString() ?? null,
      damaged: s.damagedReason !== null,
      damagedReason: s.damagedReason,
    };
  }
}

/** Taking the point in time is the first 5 %, uploading up to 95 %, commit and manifest the rest. */
export function snapshotProgress(s: Pick<SnapshotEntity, 'status' | 'blocksDone' | 'blocksTotal'>): number {
  switch (s.status) {
    case 'creating':
      return 0;
    case 'pending':
      return 5;
    case 'uploading':
      return s.blocksTotal === 0 ? 10 : Math.floor(10 + (85 * s.blocksDone) / s.blocksTotal);
    case 'committing':
      return 95;
    case 'sealing':
      return 98;
    case 'available':
    case 'recycled':
    case 'deleted':
      return 100;
    default:
      return 0;
  }
}

export class SnapshotGroupView {
  @ApiProperty() groupId!: string;
  @ApiProperty({ type: SnapshotView, isArray: true }) snapshots!: SnapshotView[];
}

export class SnapshotListView {
  @ApiProperty({ type: SnapshotView, isArray: true }) snapshots!: SnapshotView[];
  @ApiProperty({ type: String, nullable: true, description: 'pass as `marker` for the next page; null on the last page' })
  nextMarker!: string | null;
}
