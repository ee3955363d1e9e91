import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { IslandConfig } from '@island/config';
import { OsloRpcServer } from '@island/oslo-rpc';
import { InjectConfig, ReadinessRegistry } from '@island/platform';
import { toCinderFailure } from './cinder-errors';
import { CinderVolumeEndpoint } from './cinder-volume.endpoint';

/**
 * Serves Cinder's volume driver calls over oslo.messaging (exchange and topic from ISLAND_RPC_*). Every API
 * replica consumes the shared topic queue, so calls are spread over them; each also has its own server queue.
 */
@Injectable()
export class CinderRpcService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('CinderRpc');
  private readonly server: OsloRpcServer;

  constructor(@InjectConfig() config: IslandConfig, endpoint: CinderVolumeEndpoint, readiness: ReadinessRegistry) {
    this.server = new OsloRpcServer({
      url: config.rpc.url,
      exchange: config.rpc.exchange,
      topic: config.rpc.topic,
      server: config.rpc.server,
      endpoints: [endpoint.endpoint()],
      translateError: (error, request) => toCinderFailure(error, request.method),
      logger: { log: (m) => this.logger.debug(m), warn: (m) => this.logger.warn(m) },
    });
    readiness.register('oslo-rpc', async () => {
      if (!this.server.connected) throw new Error('not connected to the oslo.messaging broker');
    });
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.server.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.server.stop();
  }
}
