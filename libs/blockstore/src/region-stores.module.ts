import { Global, Module } from '@nestjs/common';
import { ProjectKeyService } from './project-key.service';
import { RegionStores } from './region-stores';

/** Swift access and projects' keys for services that move blocks (workers, GC, the API for manifests and keys). */
@Global()
@Module({ providers: [RegionStores, ProjectKeyService], exports: [RegionStores, ProjectKeyService] })
export class SwiftStoresModule {}
