import { ApiProperty } from '@nestjs/swagger';
import { HostEntity } from '@island/catalog';

/** An agent that has not reported for this long is shown offline. */
export const HOST_OFFLINE_AFTER_MS = 30_000;

export class HostView {
  @ApiProperty() name!: string;
  @ApiProperty() region!: string;
  @ApiProperty({ enum: ['online', 'offline'] }) status!: 'online' | 'offline';
  @ApiProperty() dataDir!: string;
  @ApiProperty() capacityBytes!: number;
  @ApiProperty() freeBytes!: number;
  @ApiProperty() agentVersion!: string;
  @ApiProperty() lastSeenAt!: string;

  static of(h: HostEntity, now = Date.now()): HostView {
    return {
      name: h.name,
      region: h.region,
      status: now - h.lastSeenAt.getTime() < HOST_OFFLINE_AFTER_MS ? 'online' : 'offline',
      dataDir: h.dataDir,
      capacityBytes: h.capacityBytes,
      freeBytes: h.freeBytes,
      agentVersion: h.agentVersion,
      lastSeenAt: h.lastSeenAt.toISOString(),
    };
  }
}
