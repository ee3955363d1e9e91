import { Module } from '@nestjs/common';
import { APP_FILTER, APP_INTERCEPTOR, APP_PIPE } from '@nestjs/core';
import { ValidationPipe } from '@nestjs/common';
import { CatalogModule } from '@island/catalog';
import { MessagePublisher, MessagingModule } from '@island/messaging';
import { HealthModule, IslandConfigModule, MetricsModule } from '@island/platform';
import { AuthGuard, Authenticator } from './auth/auth.guard';
import { KeystoneTokens } from './auth/keystone/keystone-tokens';
import { ProjectDirectory } from './auth/project-directory';
import { CinderRpcService } from './cinder/cinder-rpc.service';
import { CinderVolumeEndpoint } from './cinder/cinder-volume.endpoint';
import { HostsController } from './controllers/hosts.controller';
import { OperationsController } from './controllers/operations.controller';
import { KeysController } from './controllers/keys.controller';
import { QuotasController } from './controllers/quotas.controller';
import { RestRequestInterceptor } from './controllers/rest-request.interceptor';
import { RegionsController } from './controllers/regions.controller';
import { SnapshotsController } from './controllers/snapshots.controller';
import { VolumesController } from './controllers/volumes.controller';
import { CatalogUnavailableFilter } from './errors/catalog-unavailable.filter';
import { DomainErrorFilter } from './errors/domain-error.filter';
import { CatalogEvents } from './events/catalog-events';
import { OutboxPublisher, OutboxRelay } from './outbox/outbox-relay.service';
import { UnitOfWork } from './outbox/unit-of-work';
import { HostService } from './requests/host.service';
import { OperationsService } from './requests/operations.service';
import { KeysService } from './requests/keys.service';
import { QuotaService } from './requests/quota.service';
import { RegionService } from './requests/region.service';
import { SnapshotCopyService } from './requests/snapshot-copy.service';
import { SnapshotPipeline } from './state-machines/snapshot-pipeline';
import { SnapshotService } from './requests/snapshot.service';
import { SnapshotDataService } from './requests/snapshot-data.service';
import { VolumeLifecycle } from './state-machines/volume-lifecycle';
import { OperationSweeper } from './state-machines/operation-sweeper';
import { RecycleBinPurge } from './state-machines/recycle-bin-purge';
import { DeadLetterArchive } from './dead-letters/dead-letter-archive';
import { VolumeEvacuationService } from './requests/volume-evacuation.service';
import { DeadLettersController } from './dead-letters/dead-letters.controller';
import { DeadLettersService } from './dead-letters/dead-letters.service';
import { VolumeService } from './requests/volume.service';

@Module({
  imports: [
    IslandConfigModule,
    HealthModule,
    MetricsModule,
    CatalogModule.forRoot({ applicationName: 'island-api', migrate: true }),
    MessagingModule.forService('api'),
  ],
  controllers: [
    VolumesController,
    SnapshotsController,
    HostsController,
    RegionsController,
    OperationsController,
    QuotasController,
    KeysController,
    DeadLettersController,
  ],
  providers: [
    { provide: APP_PIPE, useValue: new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true }) },
    { provide: APP_INTERCEPTOR, useClass: RestRequestInterceptor },
    { provide: APP_FILTER, useClass: CatalogUnavailableFilter },
    { provide: APP_FILTER, useClass: DomainErrorFilter },
    Authenticator,
    AuthGuard,
    KeystoneTokens,
    ProjectDirectory,
    UnitOfWork,
    OutboxRelay,
    { provide: OutboxPublisher, useExisting: MessagePublisher },
    CatalogEvents,
    RegionService,
    VolumeService,
    SnapshotService,
    SnapshotDataService,
    SnapshotPipeline,
    SnapshotCopyService,
    VolumeLifecycle,
    OperationSweeper,
    RecycleBinPurge,
    DeadLetterArchive,
    VolumeEvacuationService,
    DeadLettersService,
    HostService,
    OperationsService,
    QuotaService,
    KeysService,
    CinderVolumeEndpoint,
    CinderRpcService,
  ],
})
export class ApiModule {}
