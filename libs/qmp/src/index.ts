export * from './qmp-client';
export * from './qmp-commands';
export * from './qmp-errors';
export * from './storage-daemon-environment';
