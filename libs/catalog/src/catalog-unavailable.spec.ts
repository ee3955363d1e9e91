import { Client } from 'pg';
import { QueryFailedError } from 'typeorm';
import { catalogOutage, isCatalogUnavailable } from './catalog-unavailable';

describe('telling a catalog that cannot be reached from a failing statement', () => {
  it('tells a database never reached (refused, starting up, no pool slot) from a connection cut under a request', async () => {
    const refused = await new Client({ connectionString: 'postgres://postgres@127.0.0.1:1/none' }).connect().catch((e: unknown) => e);
    expect(catalogOutage(refused)).toBe('not-reached');
    expect(catalogOutage(Object.assign(new Error('the database system is starting up'), { code: '57P03' }))).toBe('not-reached');
    expect(catalogOutage(new Error('timeout exceeded when trying to connect'))).toBe('not-reached');
    const shuttingDown = Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' });
    expect(catalogOutage(new QueryFailedError('SELECT 1', [], shuttingDown))).toBe('cut');
    expect(catalogOutage(new Error('Connection terminated unexpectedly'))).toBe('cut');
    expect(catalogOutage(Object.assign(new Error('connection failure'), { code: '08006' }))).toBe('cut');
    expect(isCatalogUnavailable(refused)).toBe(true);
  });

  it('does not count a statement the server refuses, a constraint or a plain bug', () => {
    const syntax = Object.assign(new Error('syntax error at or near "SELEC"'), { code: '42601' });
    expect(isCatalogUnavailable(new QueryFailedError('SELEC 1', [], syntax))).toBe(false);
    expect(isCatalogUnavailable(Object.assign(new Error('duplicate key'), { code: '23505' }))).toBe(false);
    expect(isCatalogUnavailable(new TypeError('x is undefined'))).toBe(false);
    expect(isCatalogUnavailable(undefined)).toBe(false);
  });
});
