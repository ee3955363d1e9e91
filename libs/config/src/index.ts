import 'reflect-metadata';
import { loadConfig } from './load-config';
import type { IslandConfig } from './island-config';

export * from './island-config';
export { ConfigError, DEFAULT_HEAP_MIB, LOCAL_DEFAULTS, loadConfig } from './load-config';
export { heapCapInForce, heapCapMib, nodeHeapFlags, SEMI_SPACE_MIB } from './heap-cap';

let cached: IslandConfig | undefined;

/** The process's configuration, read and validated from the environment on first use. */
export function getConfig(): IslandConfig {
  cached ??= loadConfig();
  return cached;
}
