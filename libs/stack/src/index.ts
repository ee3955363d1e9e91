export * from './island-stack';
export * from './guest-io';
