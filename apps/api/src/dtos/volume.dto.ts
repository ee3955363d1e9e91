import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsInt, IsOptional, IsString, IsUUID, Matches, Max, MaxLength, Min, ValidateIf } from 'class-validator';
import { EXPORT_KINDS, ExportKind, FillStatus, VolumeEntity, VolumeStatus } from '@island/catalog';

export const MIN_VOLUME_BYTES = 1024 * 1024;
/** 64 TiB: far below what 64 KiB-cluster qcow2 allows, far above any local disk. */
export const MAX_VOLUME_BYTES = 64 * 1024 ** 4;

export class CreateVolumeDto {
  @ApiPropertyOptional({
    description: "Size in bytes: a multiple of 512, at least 1 MiB; with snapshotId, at least the snapshot's size, which is the default",
    example: 10737418240,
  })
  @ValidateIf((dto: CreateVolumeDto) => dto.snapshotId === undefined || dto.sizeBytes !== undefined)
  @IsInt({ message: 'sizeBytes must be an integer (it may be left out only with snapshotId)' })
  @Min(MIN_VOLUME_BYTES)
  @Max(MAX_VOLUME_BYTES)
  sizeBytes?: number;

  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @MaxLength(255)
  name?: string;

  @ApiPropertyOptional({ description: 'Create the volume with the content of this snapshot' })
  @IsOptional()
  @IsUUID()
  snapshotId?: string;

  @ApiPropertyOptional({ description: "Region; default: the snapshot's, or the API's own" })
  @IsOptional()
  @Matches(/^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/)
  region?: string;
}

export class EvacuateVolumeDto {
  @ApiProperty({ description: "The host to recreate the volume on (online, in the volume's region)" })
  @Matches(/^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/, { message: 'host must be a host name' })
  host!: string;
}

export class AttachVolumeDto {
  @ApiProperty({ description: 'The host whose disk holds (or will hold) the image' })
  @Matches(/^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/, { message: 'host must be a host name' })
  host!: string;

  @ApiPropertyOptional({
    enum: EXPORT_KINDS,
    description:
      "Serve the image through the host's qemu-storage-daemon instead of file mode: 'nbd', an NBD export on a unix socket (connection.nbd); 'raw', a file on the host showing the volume's raw bytes (connection.raw); 'block', that file behind a loop block device (connection.device)",
  })
  @IsOptional()
  @IsIn(EXPORT_KINDS, { message: "export must be 'nbd', 'raw' or 'block'" })
  export?: ExportKind;
}

export class ExtendVolumeDto {
  @ApiProperty({ description: 'The new size in bytes: larger than the current one, a multiple of 512' })
  @IsInt()
  @Min(MIN_VOLUME_BYTES)
  @Max(MAX_VOLUME_BYTES)
  sizeBytes!: number;
}

export class RevertVolumeDto {
  @ApiProperty()
  @IsUUID()
  snapshotId!: string;
}

export class ConnectionView {
  @ApiProperty({ example: '/var/lib/island/host1/volumes/6f1c….qcow2' }) path!: string;
  @ApiProperty({ example: 'qcow2' }) format!: 'qcow2';
  @ApiProperty() host!: string;
  @ApiPropertyOptional({
    description: 'Attached with an export: the NBD URI the VM connects to (nbd+unix://…)',
    example: 'nbd+unix:///6f1c…?socket=/var/lib/island/host1/qsd/nbd.sock',
  })
  nbd?: string;
  @ApiPropertyOptional({
    description: "Attached with export 'raw': the file on the host whose bytes are the volume's (a FUSE export)",
    example: '/var/lib/island/host1/exports/6f1c….raw',
  })
  raw?: string;
  @ApiPropertyOptional({
    description: "Attached with export 'block': the block device on the host whose bytes are the volume's (a loop device over connection.raw)",
    example: '/dev/loop3',
  })
  device?: string;
}

export class FillView {
  @ApiProperty({
    enum: ['filling', 'failed'],
    description: "'filling': blocks not yet local are read from the snapshot on first use while the rest streams in; 'failed': the fill stopped (reason)",
  })
  status!: FillStatus;
  @ApiProperty({ description: 'Bytes of the image filled so far' }) doneBytes!: number;
  @ApiProperty() totalBytes!: number;
  @ApiProperty({ description: 'doneBytes of totalBytes, rounded down' }) percent!: number;
  @ApiPropertyOptional({ nullable: true, type: String }) reason!: string | null;
}

export class VolumeView {
  @ApiProperty() id!: string;
  @ApiProperty() name!: string;
  @ApiProperty() projectId!: string;
  @ApiProperty() region!: string;
  @ApiProperty() sizeBytes!: number;
  @ApiProperty() status!: VolumeStatus;
  @ApiPropertyOptional({ nullable: true, type: String }) statusReason!: string | null;
  @ApiPropertyOptional({ nullable: true, type: String, description: 'Host holding the image; null until the first attach' })
  host!: string | null;
  @ApiProperty() attached!: boolean;
  @ApiPropertyOptional({ type: ConnectionView, nullable: true }) connection!: ConnectionView | null;
  @ApiPropertyOptional({ nullable: true, type: String }) sourceSnapshotId!: string | null;
  @ApiPropertyOptional({
    type: FillView,
    nullable: true,
    description: 'Made from a snapshot and attached with an export: the image still filling from the snapshot (null once it is whole)',
  })
  fill!: FillView | null;
  @ApiProperty() blockSize!: number;
  @ApiProperty() createdAt!: string;
  @ApiProperty() updatedAt!: string;

  static of(v: VolumeEntity): VolumeView {
    return {
      id: v.id,
      name: v.name,
      projectId: v.projectId,
      region: v.region,
      sizeBytes: v.sizeBytes,
      status: v.status,
      statusReason: v.statusReason,
      host: v.host,
      attached: v.attached,
      connection:
        v.attached && v.host && v.imagePath
          ? {
              path: v.imagePath,
              format: 'qcow2',
              host: v.host,
              ...(v.nbdUri !== null && { nbd: v.nbdUri }),
              ...(v.rawPath !== null && { raw: v.rawPath }),
              ...(v.blockDevice !== null && { device: v.blockDevice }),
            }
          : null,
      sourceSnapshotId: v.sourceSnapshotId,
      fill: v.fillStatus
        ? {
            status: v.fillStatus,
            doneBytes: v.fillDone,
            totalBytes: v.fillTotal,
            percent: v.fillTotal > 0 ? Math.floor((100 * v.fillDone) / v.fillTotal) : 0,
            reason: v.fillReason,
          }
        : null,
      blockSize: v.blockSize,
      createdAt: v.createdAt.toISOString(),
      updatedAt: v.updatedAt.toISOString(),
    };
  }
}

export class VolumeListView {
  @ApiProperty({ type: VolumeView, isArray: true }) volumes!: VolumeView[];
  @ApiProperty({ type: String, nullable: true, description: 'pass as `marker` for the next page; null on the last page' })
  nextMarker!: string | null;
}
