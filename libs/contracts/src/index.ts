import 'reflect-metadata';
export * from './contract';
export * from './topology';
export * from './block-run';
export * from './registry';
export * from './agent/agent-jobs';
export * from './worker/worker-jobs';
export * from './gc/gc-jobs';
export * from './events/events';
