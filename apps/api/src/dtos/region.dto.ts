import { ApiProperty } from '@nestjs/swagger';

/** A region as configured (ISLAND_REGIONS), with what the catalog holds there. Credentials are never shown. */
export class RegionView {
  @ApiProperty() name!: string;
  @ApiProperty({ description: 'The region new volumes go to unless another is asked for' }) default!: boolean;
  @ApiProperty({ description: 'Swift auth endpoint' }) swiftAuthUrl!: string;
  @ApiProperty() container!: string;
  @ApiProperty({ description: 'Hosts whose agent reported in the last 30 s' }) hostsOnline!: number;
  @ApiProperty({ description: "The caller's volumes there (every project's for the admin)" }) volumes!: number;
  @ApiProperty({ description: "The caller's snapshots there (every project's for the admin)" }) snapshots!: number;
}
