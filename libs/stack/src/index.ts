export * from './island-stack';
