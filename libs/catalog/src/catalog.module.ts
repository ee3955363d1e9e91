import { DynamicModule, Module, OnModuleInit } from '@nestjs/common';
import { InjectDataSource, TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { IslandConfig } from '@island/config';
import { ISLAND_CONFIG, ReadinessRegistry } from '@island/platform';
import { catalogDataSourceOptions } from './data-source';

export interface CatalogModuleOptions {
  /** Shown in pg_stat_activity. */
  applicationName: string;
  /** Only the API migrates the schema (at start; never `synchronize`). */
  migrate: boolean;
  poolSize?: number;
}

/** The catalog connection for a Nest service, with a `postgres` readiness check. */
@Module({})
export class CatalogModule implements OnModuleInit {
  static forRoot(options: CatalogModuleOptions): DynamicModule {
    return {
      module: CatalogModule,
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
