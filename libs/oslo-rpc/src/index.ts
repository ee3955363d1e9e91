export * from './dispatcher';
export * from './envelope';
export * from './remote-failure';
export * from './rpc-server';
