import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

export class ChangedBlocksView {
  @ApiProperty() snapshotId!: string;
  @ApiProperty({ type: String, nullable: true, description: 'null: changed from an empty volume (every block that is not a hole)' })
  baseSnapshotId!: string | null;
  @ApiProperty({ description: "the snapshot's volume size in bytes" }) sizeBytes!: number;
  @ApiPropertyOptional({ type: Number, nullable: true, description: "the base's volume size (it may be smaller: an extend in between)" })
  baseSizeBytes!: number | null;
  @ApiProperty({ description: 'block i is bytes [i × blockSize, min((i + 1) × blockSize, sizeBytes))' }) blockSize!: number;
  @ApiProperty({ type: Number, isArray: true, description: 'block indexes whose content differs, ascending' }) blocks!: number[];
  @ApiProperty({ type: Number, nullable: true, description: 'pass as `marker` for the next page; null on the last page' })
  nextMarker!: number | null;
}
