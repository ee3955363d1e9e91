export * from './island-stack';
export * from './guest-io';
export * from './nbd-writer';
export * from './poll';
