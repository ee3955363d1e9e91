import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { HostEntity } from '@island/catalog';

/** An agent that has not reported for this long is shown offline. */
export const HOST_OFFLINE_AFTER_MS = 30_000;

/** A host as a project sees it: where it may attach volumes. The admin also sees the host's disk and agent. */
export class HostView {
  @ApiProperty() name!: string;
  @ApiProperty() region!: string;
  @ApiProperty({ enum: ['online', 'offline'] }) status!: 'online' | 'offline';
  @ApiPropertyOptional({ description: 'admin only' }) dataDir?: string;
  @ApiPropertyOptional({ description: 'admin only' }) capacityBytes?: number;
  @ApiPropertyOptional({ description: 'admin only' }) freeBytes?: number;
  @ApiPropertyOptional({ description: 'admin only' }) agentVersion?: string;
  @ApiProperty() lastSeenAt!: string;

  static of(h: HostEntity, admin: boolean, now = Date.now()): HostView {
    return {
      name: h.name,
      region: h.region,
      status: now - h.lastSeenAt.getTime() < HOST_OFFLINE_AFTER_MS ? 'online' : 'offline',
      ...(admin && { dataDir: h.dataDir, capacityBytes: h.capacityBytes, freeBytes: h.freeBytes, agentVersion: h.agentVersion }),
      lastSeenAt: h.lastSeenAt.toISOString(),
    };
  }
}
