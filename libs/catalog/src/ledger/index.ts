export * from './ledger-errors';
export * from './block-references';
export * from './block-claims';
export * from './snapshot-ledger';
export * from './ledger-entries';
export * from './sql-rows';
export * from './block-collection';
