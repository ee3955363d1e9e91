import { DataSource, DataSourceOptions } from 'typeorm';
import { HostEntity } from './entities/host.entity';
import { JobEntity } from './entities/job.entity';
import { OutboxEntity } from './entities/outbox.entity';
import { ProjectEntity } from './entities/project.entity';
import { RegionEntity } from './entities/region.entity';
import { SnapshotEntity } from './entities/snapshot.entity';
import { VolumeEntity } from './entities/volume.entity';
import { InitialCatalog1764000000000 } from './migrations/1764000000000-initial-catalog';
import { GcFencingAndJobResults1764100000000 } from './migrations/1764100000000-gc-fencing-and-job-results';
import { OperatorViews1764200000000 } from './migrations/1764200000000-operator-views';
import { RegionCopies1764300000000 } from './migrations/1764300000000-region-copies';
import { VolumeExports1764400000000 } from './migrations/1764400000000-volume-exports';
import { CinderConnections1764500000000 } from './migrations/1764500000000-cinder-connections';
import { ProjectQuotas1764600000000 } from './migrations/1764600000000-project-quotas';
import { GcLeases1764700000000 } from './migrations/1764700000000-gc-leases';
import { DeadLetters1764800000000 } from './migrations/1764800000000-dead-letters';
import { CopyTransferReports1764900000000 } from './migrations/1764900000000-copy-transfer-reports';
import { ProjectKeys1765000000000 } from './migrations/1765000000000-project-keys';
import { BlockProjects1765100000000 } from './migrations/1765100000000-block-projects';
import { KeyIntegrity1765200000000 } from './migrations/1765200000000-key-integrity';
import { LazyFills1765300000000 } from './migrations/1765300000000-lazy-fills';
import { ChangedBlocks1765400000000 } from './migrations/1765400000000-changed-blocks';
import { SnapshotRecycleBin1765500000000 } from './migrations/1765500000000-snapshot-recycle-bin';
import { BlockScrubs1765600000000 } from './migrations/1765600000000-block-scrubs';
import { CoveringVersionIndexes1765700000000 } from './migrations/1765700000000-covering-version-indexes';
import { RecycleMarkers1765800000000 } from './migrations/1765800000000-recycle-markers';
import { StagedChangeBatches1765900000000 } from './migrations/1765900000000-staged-change-batches';
import { ListPageIndexes1766000000000 } from './migrations/1766000000000-list-page-indexes';

export const CATALOG_ENTITIES = [ProjectEntity, RegionEntity, HostEntity, VolumeEntity, SnapshotEntity, JobEntity, OutboxEntity];
export const CATALOG_MIGRATIONS = [
  InitialCatalog1764000000000,
  GcFencingAndJobResults1764100000000,
  OperatorViews1764200000000,
  RegionCopies1764300000000,
  VolumeExports1764400000000,
  CinderConnections1764500000000,
  ProjectQuotas1764600000000,
  GcLeases1764700000000,
  DeadLetters1764800000000,
  CopyTransferReports1764900000000,
  ProjectKeys1765000000000,
  BlockProjects1765100000000,
  KeyIntegrity1765200000000,
  LazyFills1765300000000,
  ChangedBlocks1765400000000,
  SnapshotRecycleBin1765500000000,
  BlockScrubs1765600000000,
  CoveringVersionIndexes1765700000000,
  RecycleMarkers1765800000000,
  StagedChangeBatches1765900000000,
  ListPageIndexes1766000000000,
];

const IDLE_CONNECTION_MS = 10 * 60_000;

/** TypeORM options for the catalog; schema changes only through migrations, never `synchronize`. */
export function catalogDataSourceOptions(url: string, applicationName: string, poolSize = 10): DataSourceOptions {
  return {
    type: 'postgres',
    url,
    entities: CATALOG_ENTITIES,
    migrations: CATALOG_MIGRATIONS,
    migrationsTableName: 'catalog_migrations',
    migrationsTransactionMode: 'each',
    synchronize: false,
    applicationName,
    // jit off: the catalog's statements are short, and on a large catalog the planner's estimates for some of them
    // (GC's mark: ~170 000 at 100 M blocks) cross jit_above_cost, so each paid more in compilation than it ran.
    // Idle connections are kept ten minutes (node-postgres closes them after 10 s by default): a session's prepared
    // statements and caches live as long as it does, and after every pause a new one paid its backend's start and
    // planned each statement again — measured as a third of the catalog's CPU for the snapshots after a 20 s pause.
    // An idle connection does not keep a process running (a tool that forgot to close its data source would wait ten
    // minutes to exit); a service has its servers and broker connection for that.
    extra: { max: poolSize, connectionTimeoutMillis: 5000, idleTimeoutMillis: IDLE_CONNECTION_MS, allowExitOnIdle: true, options: '-c jit=off' },
  };
}

export function createCatalogDataSource(url: string, applicationName: string, poolSize?: number): DataSource {
  return new DataSource(catalogDataSourceOptions(url, applicationName, poolSize));
}
