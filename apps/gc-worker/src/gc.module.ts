import { Module } from '@nestjs/common';
import { CatalogModule } from '@island/catalog';
import { MessagingModule } from '@island/messaging';
import { HealthModule, IslandConfigModule, MetricsModule, SwiftStoresModule } from '@island/platform';

/** The garbage collector: deletes from Swift the blocks no snapshot references once their grace has passed. */
@Module({
  imports: [
    IslandConfigModule,
    HealthModule,
    MetricsModule,
    SwiftStoresModule,
    CatalogModule.forRoot({ applicationName: 'island-gc', migrate: false }),
    MessagingModule.forService('gc-worker'),
  ],
})
export class GcModule {}
