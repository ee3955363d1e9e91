import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsInt, IsOptional, Max, Min, ValidateIf } from 'class-validator';

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
  @ApiProperty({ type: QuotaUsageView }) usage!: QuotaUsageView;
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
}
