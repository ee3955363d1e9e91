export * from './auth';
export * from './bulk-delete';
export * from './listing';
export * from './retry-policy';
export * from './swift-client';
export * from './swift-errors';
export * from './swift-from-config';
export type { BodyMemory } from './buffered-request';
