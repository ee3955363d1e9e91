import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsInt, IsOptional, Max, Min, ValidateIf } from 'class-validator';
import { MAX_SNAPSHOT_RETENTION_SECONDS } from '@island/config';

const MAX_LIMIT = 1_000_000_000;

export class QuotaNumbersView {
  @ApiPropertyOptional({ nullable: true, type: Number, description: 'null: unlimited' }) volumes!: number | null;
  @ApiPropertyOptional({ nullable: true, type: Number }) snapshots!: number | null;
  @ApiPropertyOptional({ nullable: true, type: Number, description: "volumes' provisioned size, whole GiB each" }) gigabytes!: number | null;
}

export class QuotaUsageView {
  @ApiProperty() volumes!: number;
  @ApiProperty() snapshots!: number;
  @ApiProperty() gigabytes!: number;
}

export class QuotaView {
  @ApiProperty() projectId!: string;
  @ApiProperty({ type: QuotaNumbersView }) limits!: QuotaNumbersView;
  @ApiProperty({ type: QuotaUsageView, description: 'snapshots: those in the recycle bin count' }) usage!: QuotaUsageView;
  @ApiProperty({ description: 'Seconds a deleted snapshot stays restorable in the recycle bin (0: no bin)' }) snapshotRetentionSeconds!: number;
  @ApiProperty({ description: "true: the configured default (ISLAND_SNAPSHOT_RETENTION_SECONDS), not the project's own" })
  snapshotRetentionIsDefault!: boolean;
}

/** A limit, or null: back to the configured default. */
const QuotaLimit = () =>
  applyDecorators(
    ApiPropertyOptional({ nullable: true, type: Number }),
    IsOptional(),
    ValidateIf((_, v) => v !== null),
    IsInt(),
    Min(0),
    Max(MAX_LIMIT),
  );

/** A project's own limits; a field set to null goes back to the default (ISLAND_QUOTA_*), an absent one stays. */
export class SetQuotaDto {
  @QuotaLimit() volumes?: number | null;
  @QuotaLimit() snapshots?: number | null;
  @QuotaLimit() gigabytes?: number | null;

  @ApiPropertyOptional({ nullable: true, type: Number, description: 'Seconds deleted snapshots stay in the recycle bin (0: none; null: the default)' })
  @IsOptional()
  @ValidateIf((_, v) => v !== null)
  @IsInt()
  @Min(0)
  @Max(MAX_SNAPSHOT_RETENTION_SECONDS)
  snapshotRetentionSeconds?: number | null;
}
