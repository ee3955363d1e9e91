import { ConfigError, LOCAL_DEFAULTS, loadConfig } from './load-config';

describe('loadConfig', () => {
  it('points every setting at the local services when the environment is empty', () => {
    const config = loadConfig({});
    expect(config.database.url).toBe(LOCAL_DEFAULTS.databaseUrl);
    expect(config.amqp.url).toBe(LOCAL_DEFAULTS.amqpUrl);
    expect(config.regions).toEqual([
      {
        name: 'RegionOne',
        swift: { authUrl: 'http://127.0.0.1:8080/auth/v1.0', authVersion: '1', user: 'test:tester', key: 'testing' },
        container: 'island',
      },
    ]);
    expect(config.region).toBe('RegionOne');
    expect(config.blocks.size).toBe(1048576);
    expect(config.recycleBin.retentionSeconds).toBe(0);
    expect(config.auth.tokens).toEqual(new Map([[LOCAL_DEFAULTS.devToken, LOCAL_DEFAULTS.devProject]]));
  });

  it('parses numbers, regions and tokens from their variables', () => {
    const config = loadConfig({
      ISLAND_AMQP_PREFETCH: '4',
      ISLAND_BLOCK_SIZE: '4194304',
      ISLAND_REGIONS: JSON.stringify([
        { name: 'east', authUrl: 'http://k:5000/v3', user: 'u', key: 'k', project: 'p', container: 'c1' },
        { name: 'west', authUrl: 'http://s:8080/auth/v1.0', user: 'a:b', key: 'k' },
      ]),
      ISLAND_REGION: 'west',
      ISLAND_TOKENS: '{"token-aaaa-1":"p1","token-bbbb-2":"p2"}',
      ISLAND_SNAPSHOT_RETENTION_SECONDS: '86400',
    });
    expect(config.amqp.prefetch).toBe(4);
    expect(config.recycleBin.retentionSeconds).toBe(86400);
    expect(config.blocks.size).toBe(4194304);
    expect(config.regions.map((r) => [r.name, r.swift.authVersion, r.container])).toEqual([
      ['east', '3', 'c1'],
      ['west', '1', 'island'],
    ]);
    expect(config.region).toBe('west');
    expect(config.auth.tokens).toEqual(
      new Map([
        ['token-aaaa-1', 'p1'],
        ['token-bbbb-2', 'p2'],
      ]),
    );
  });

  it('names every bad variable in one error', () => {
    let error: unknown;
    try {
      loadConfig({
        ISLAND_DATABASE_URL: 'mysql://x',
        ISLAND_BLOCK_SIZE: '1000',
        ISLAND_API_PORT: 'eighty',
        ISLAND_REGIONS: '[{"name":"r1","authUrl":"ftp://x","user":"u"}]',
        ISLAND_TOKENS: '{"short":"p"}',
        ISLAND_SNAPSHOT_RETENTION_SECONDS: '-1',
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    for (const name of [
      'ISLAND_DATABASE_URL',
      'ISLAND_BLOCK_SIZE',
      'ISLAND_API_PORT',
      'ISLAND_REGIONS[0].authUrl',
      'ISLAND_REGIONS[0].key',
      'ISLAND_TOKENS',
      'ISLAND_SNAPSHOT_RETENTION_SECONDS',
    ]) {
      expect(problems).toContain(name);
    }
  });

  it('rejects a region that is not configured and malformed JSON', () => {
    expect(() => loadConfig({ ISLAND_REGION: 'nowhere' })).toThrow(/ISLAND_REGION: nowhere is not one of/);
    expect(() => loadConfig({ ISLAND_REGIONS: '[{' })).toThrow(/ISLAND_REGIONS: not valid JSON/);
    expect(() =>
      loadConfig({
        ISLAND_REGIONS: JSON.stringify([
          { name: 'a', authUrl: 'http://x', user: 'u', key: 'k' },
          { name: 'a', authUrl: 'http://y', user: 'u', key: 'k' },
        ]),
      }),
    ).toThrow(/region a is listed twice/);
  });
  it('reads the scrub schedule in hours (fractions too) and its rate in MiB/s, and names a bad value', () => {
    expect(loadConfig({}).scrub).toEqual({ intervalSeconds: 168 * 3600, bytesPerSecond: 20 * 1048576 });
    expect(loadConfig({ ISLAND_SCRUB_INTERVAL_HOURS: '0.5', ISLAND_SCRUB_MIB_PER_S: '2.5' }).scrub).toEqual({
      intervalSeconds: 1800,
      bytesPerSecond: 2.5 * 1048576,
    });
    expect(loadConfig({ ISLAND_SCRUB_INTERVAL_HOURS: '0', ISLAND_SCRUB_MIB_PER_S: '0' }).scrub).toEqual({ intervalSeconds: 0, bytesPerSecond: 0 });
    expect(() => loadConfig({ ISLAND_SCRUB_INTERVAL_HOURS: 'weekly' })).toThrow(/ISLAND_SCRUB_INTERVAL_HOURS.*must be a number of hours/);
    expect(() => loadConfig({ ISLAND_SCRUB_MIB_PER_S: '-1' })).toThrow(/ISLAND_SCRUB_MIB_PER_S/);
  });
});
