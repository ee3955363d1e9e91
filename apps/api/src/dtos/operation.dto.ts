import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsInt, IsNumber, IsOptional, Matches, Max, Min } from 'class-validator';
import { JobEntity } from '@island/catalog';
import { MAX_GC_GRACE_SECONDS } from '@island/contracts';

const REGION = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;

export class StartGcRunDto {
  @ApiPropertyOptional({ description: "Region; default: the API's own" })
  @IsOptional()
  @Matches(REGION, { message: 'region must be a region name' })
  region?: string;

  @ApiPropertyOptional({ description: 'Seconds a block stays after its last reference; default: the configured grace' })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(MAX_GC_GRACE_SECONDS)
  graceSeconds?: number;

  @ApiPropertyOptional({ description: 'Only count what would be deleted' })
  @IsOptional()
  @IsBoolean()
  dryRun?: boolean;
}

export class StartFsckDto {
  @ApiPropertyOptional()
  @IsOptional()
  @Matches(REGION, { message: 'region must be a region name' })
  region?: string;

  @ApiPropertyOptional({ description: 'Also read every block and verify its checksum' })
  @IsOptional()
  @IsBoolean()
  deep?: boolean;

  @ApiPropertyOptional({ description: 'Correct reference counts, delete orphans, repair lost blocks from another region and mark the rest damaged' })
  @IsOptional()
  @IsBoolean()
  repair?: boolean;

  @ApiPropertyOptional({ description: "MiB per second the deep read may take from Swift (0: unlimited); default: the GC worker's ISLAND_SCRUB_MIB_PER_S" })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false }, { message: 'mibPerSecond must be a number of MiB per second' })
  @Min(0, { message: 'mibPerSecond must be 0 (unlimited) or more' })
  @Max(100000, { message: 'mibPerSecond must be at most 100000' })
  mibPerSecond?: number;
}

export class StartCatalogRebuildDto {
  @ApiProperty()
  @Matches(REGION, { message: 'region must be a region name' })
  region!: string;

  @ApiPropertyOptional({
    description: 'Also rebuild from plain manifests, written before encryption (they authenticate nothing: only for a store known to hold such data)',
  })
  @IsOptional()
  @IsBoolean()
  acceptPlain?: boolean;
}

/** A long operation: what `--wait` polls; `result` is the report of GC runs, fsck and rebuilds. */
export class OperationView {
  @ApiProperty() id!: string;
  @ApiProperty() kind!: string;
  @ApiProperty({ enum: ['running', 'succeeded', 'failed'] }) status!: string;
  @ApiProperty({ description: 'Percent done, 0–100' }) progress!: number;
  @ApiProperty() resourceType!: string;
  @ApiProperty() resourceId!: string;
  @ApiProperty({ nullable: true, type: String }) error!: string | null;
  @ApiProperty({ nullable: true, type: Object }) result!: Record<string, unknown> | null;
  @ApiProperty() createdAt!: string;
  @ApiProperty({ description: 'Its last progress (a state change or a progress report)' }) updatedAt!: string;
  @ApiProperty({ nullable: true, type: String }) finishedAt!: string | null;

  static of(j: JobEntity): OperationView {
    return {
      id: j.id,
      kind: j.kind,
      status: j.status,
      progress: Math.round(j.progress),
      resourceType: j.resourceType,
      resourceId: j.resourceId,
      error: j.error,
      result: j.result,
      createdAt: j.createdAt.toISOString(),
      updatedAt: j.updatedAt.toISOString(),
      finishedAt: j.finishedAt?.toISOString() ?? null,
    };
  }
}

/** A running operation, with how long it has gone without progress and how long its kind may. */
export class RunningOperationView extends OperationView {
  @ApiProperty() idleSeconds!: number;
  @ApiProperty({ description: 'Without progress for this long, the API ends it (ISLAND_OPERATION_DEADLINES)' }) deadlineSeconds!: number;
}
