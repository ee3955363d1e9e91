import { DynamicModule, Module, OnModuleInit } from '@nestjs/common';
import { getDataSourceToken, InjectDataSource, TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { IslandConfig } from '@island/config';
import { ISLAND_CONFIG, PROJECT_KEY_STORE, ReadinessRegistry } from '@island/platform';
import { catalogDataSourceOptions } from './data-source';
import { ProjectKeyRepository } from './repositories/project-key.repository';

export interface CatalogModuleOptions {
  /** Shown in pg_stat_activity. */
  applicationName: string;
  /** Only the API migrates the schema (at start; never `synchronize`). */
  migrate: boolean;
  poolSize?: number;
}

/** The catalog connection for a Nest service, with a `postgres` readiness check, and the store of projects' wrapped keys. */
@Module({})
export class CatalogModule implements OnModuleInit {
  static forRoot(options: CatalogModuleOptions): DynamicModule {
    const projectKeyStore = {
      provide: PROJECT_KEY_STORE,
      inject: [getDataSourceToken()],
      useFactory: (dataSource: DataSource) => new ProjectKeyRepository(dataSource.manager),
    };
    return {
      module: CatalogModule,
      global: true,
      providers: [projectKeyStore],
      exports: [projectKeyStore],
      imports: [
        TypeOrmModule.forRootAsync({
          inject: [ISLAND_CONFIG],
          useFactory: (config: IslandConfig) => ({
            ...catalogDataSourceOptions(config.database.url, options.applicationName, options.poolSize),
            migrationsRun: options.migrate,
            retryAttempts: 30,
            retryDelay: 2000,
          }),
        }),
      ],
    };
  }

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly readiness: ReadinessRegistry,
  ) {}

  onModuleInit(): void {
    this.readiness.register('postgres', async () => {
      await this.dataSource.query('SELECT 1');
    });
  }
}
