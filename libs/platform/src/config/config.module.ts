import { Global, Inject, Module } from '@nestjs/common';
import { getConfig, IslandConfig } from '@island/config';

export const ISLAND_CONFIG = Symbol('ISLAND_CONFIG');

/** Injects the process's validated IslandConfig. */
export const InjectConfig = () => Inject(ISLAND_CONFIG);

@Global()
@Module({
  providers: [{ provide: ISLAND_CONFIG, useFactory: (): IslandConfig => getConfig() }],
  exports: [ISLAND_CONFIG],
})
export class IslandConfigModule {}
