export * from './island-stack';
export * from './free-ports';
export * from './guest-io';
export * from './guest-writer';
export * from './poll';
export * from './real-cinder';
export * from './local-keystone';
export * from './use-island';
