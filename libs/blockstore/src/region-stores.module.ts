import { Global, Module } from '@nestjs/common';
import { RegionStores } from './region-stores';

/** Swift access for services that move blocks (workers, GC, the API for manifests). */
@Global()
@Module({ providers: [RegionStores], exports: [RegionStores] })
export class SwiftStoresModule {}
