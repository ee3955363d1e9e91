export * from './blockstore-errors';
export * from './block-codec';
export * from './manifest';
export * from './manifest-codec';
export * from './block-store';
export { RegionStores } from './region-stores';
export { SwiftStoresModule } from './region-stores.module';
export { BlockFaultPlan, InjectedBlockFaults } from './injected-block-faults';
