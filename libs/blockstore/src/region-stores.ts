import { Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { IslandConfig } from '@island/config';
import { InjectConfig, MetricsService, ReadinessRegistry } from '@island/platform';
import { swiftClientFor } from '@island/swift';
import { BlockRefetch, SwiftBlockStore } from './block-store';

/**
 * One Swift client and block store per configured region. Each region's container is created on first
 * use; a region whose Swift does not answer shows as not ready (`swift:<region>`) instead of stopping
 * the service, and is retried by the next readiness check or operation.
 */
@Injectable()
export class RegionStores implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('RegionStores');
  private readonly stores = new Map<string, SwiftBlockStore>();
  private readonly prepared = new Map<string, Promise<void>>();

  constructor(
    @InjectConfig() private readonly config: IslandConfig,
    private readonly readiness: ReadinessRegistry,
    private readonly metrics: MetricsService,
  ) {
    for (const region of config.regions) {
      const client = swiftClientFor(region, config.swift);
      this.stores.set(region.name, new SwiftBlockStore(client, region.container, { region: region.name, onRefetch: (r) => this.refetching(r) }));
    }
  }

  private refetching({ hash, region, reason, detail, attempt }: BlockRefetch): void {
    this.logger.warn(`block ${hash.toString('hex')} of region ${region}: GET ${attempt} brought a ${reason} body (${detail}); fetching it again`);
    const help = 'Block bodies fetched again: the one received was corrupt or truncated';
    const refetches = this.metrics.counter('island_block_refetches_total', help, ['region', 'reason']);
    refetches.inc({ region, reason });
  }

  onModuleInit(): void {
    for (const name of this.stores.keys()) {
      this.readiness.register(`swift:${name}`, async () => {
        const store = await this.store(name);
        await store.swift.listObjects(store.container, { limit: 1 });
      });
      this.prepare(name).catch((error: Error) => this.logger.warn(`Swift of region ${name} is not usable yet: ${error.message}`));
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all([...this.stores.values()].map((s) => s.swift.close()));
  }

  /** The block store of a region, its container created. */
  async store(region: string): Promise<SwiftBlockStore> {
    await this.prepare(region);
    return this.stores.get(region) as SwiftBlockStore;
  }

  /** This process's own region's store. */
  local(): Promise<SwiftBlockStore> {
    return this.store(this.config.region);
  }

  private prepare(region: string): Promise<void> {
    const store = this.stores.get(region);
    if (!store) return Promise.reject(new Error(`unknown region ${region}; configured: ${[...this.stores.keys()].join(', ')}`));
    let pending = this.prepared.get(region);
    if (!pending) {
      pending = store.ensureContainer();
      this.prepared.set(region, pending);
      pending.catch(() => this.prepared.delete(region));
    }
    return pending;
  }
}
