import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, IsUUID, MaxLength } from 'class-validator';
import { SnapshotEntity, SnapshotStatus } from '@island/catalog';

export class CreateSnapshotDto {
  @ApiProperty() @IsUUID()
  volumeId!: string;

  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(255)
  name?: string;
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
    case 'deleted':
      return 100;
    default:
      return 0;
  }
}
