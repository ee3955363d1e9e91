import { hostname } from 'node:os';
import { plainToInstance } from 'class-transformer';
import { validateSync, ValidationError } from 'class-validator';
import { EnvDto } from './env.dto';
import { IslandConfig, KekManagerConfig, KeystoneConfig, LogLevel, RegionConfig, STATIC_TOKEN } from './island-config';
import { RegionDto } from './region.dto';

export const LOCAL_DEFAULTS = {
  databaseUrl: 'postgres://postgres@127.0.0.1:5432/island',
  amqpUrl: 'amqp://guest:guest@127.0.0.1:5672',
  regions: [{ name: 'RegionOne', authUrl: 'http://127.0.0.1:8080/auth/v1.0', user: 'test:tester', key: 'testing' }],
  adminToken: 'island-admin-token',
  /** The local project's token: the CLI uses it when ISLAND_TOKEN is not set. */
  devToken: 'island-dev-token',
  devProject: 'demo',
  apiPort: 9660,
} as const;

/** Old space per island process when ISLAND_HEAP_MIB is not set (why this size: docs/performance.md, memory). */
export const DEFAULT_HEAP_MIB = 192;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid environment variables: ${problems.join('; ')}`);
    this.name = 'ConfigError';
  }
}

/** Reads and validates the whole environment at once; throws one ConfigError naming every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): IslandConfig {
  const raw = Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith('ISLAND_')));
  const dto = plainToInstance(EnvDto, raw);
  const problems = validateSync(dto).flatMap((e) => describe(e));

  const regions = parseRegions(dto.ISLAND_REGIONS, problems);
  const tokens = parseTokens(dto.ISLAND_TOKENS, problems);
  const region = dto.ISLAND_REGION ?? regions[0]?.name ?? 'RegionOne';
  if (regions.length > 0 && !regions.some((r) => r.name === region)) {
    problems.push(`ISLAND_REGION: ${region} is not one of ISLAND_REGIONS (${regions.map((r) => r.name).join(', ')})`);
  }
  const keystone = keystoneConfig(dto, problems);
  if ((dto.ISLAND_TLS_CERT === undefined) !== (dto.ISLAND_TLS_KEY === undefined)) {
    problems.push('ISLAND_TLS_CERT and ISLAND_TLS_KEY: give both (HTTPS) or neither');
  }
  const keys = kekManagerConfig(dto, keystone, problems);
  if (problems.length > 0) throw new ConfigError(problems);

  const host = dto.ISLAND_HOST ?? hostname().split('.')[0];
  return {
    database: { url: dto.ISLAND_DATABASE_URL ?? LOCAL_DEFAULTS.databaseUrl },
    amqp: { url: dto.ISLAND_AMQP_URL ?? LOCAL_DEFAULTS.amqpUrl, prefetch: dto.ISLAND_AMQP_PREFETCH ?? 16, namespace: dto.ISLAND_AMQP_NAMESPACE },
    regions,
    region,
    host: { name: host, dataDir: dto.ISLAND_DATA_DIR ?? `/var/lib/island/${host}` },
    http: {
      bindAddress: dto.ISLAND_BIND_ADDRESS ?? '127.0.0.1',
      ...(dto.ISLAND_TLS_CERT && dto.ISLAND_TLS_KEY && { tls: { certFile: dto.ISLAND_TLS_CERT, keyFile: dto.ISLAND_TLS_KEY } }),
    },
    ports: {
      api: dto.ISLAND_API_PORT ?? LOCAL_DEFAULTS.apiPort,
      agent: dto.ISLAND_AGENT_PORT ?? 9661,
      worker: dto.ISLAND_WORKER_PORT ?? 9662,
      gc: dto.ISLAND_GC_PORT ?? 9663,
    },
    auth: {
      adminToken: dto.ISLAND_ADMIN_TOKEN ?? LOCAL_DEFAULTS.adminToken,
      tokens: tokens ?? new Map([[LOCAL_DEFAULTS.devToken, LOCAL_DEFAULTS.devProject]]),
      ...(keystone && { keystone }),
    },
    blocks: { size: dto.ISLAND_BLOCK_SIZE ?? 1024 * 1024 },
    quotas: { volumes: dto.ISLAND_QUOTA_VOLUMES, snapshots: dto.ISLAND_QUOTA_SNAPSHOTS, gigabytes: dto.ISLAND_QUOTA_GIGABYTES },
    gc: { graceSeconds: dto.ISLAND_GC_GRACE_SECONDS ?? 300, intervalSeconds: dto.ISLAND_GC_INTERVAL_SECONDS ?? 60 },
    recycleBin: { retentionSeconds: dto.ISLAND_SNAPSHOT_RETENTION_SECONDS ?? 0 },
    scrub: {
      intervalSeconds: Math.round((dto.ISLAND_SCRUB_INTERVAL_HOURS ?? 168) * 3600),
      bytesPerSecond: Math.round((dto.ISLAND_SCRUB_MIB_PER_S ?? 20) * 1024 * 1024),
    },
    operations: {
      sweepSeconds: dto.ISLAND_SWEEP_SECONDS ?? 30,
      deadlineOverrides: Object.fromEntries(
        (dto.ISLAND_OPERATION_DEADLINES ?? '')
          .split(',')
          .filter(Boolean)
          .map((pair) => {
            const [kind, seconds] = pair.split('=');
            return [kind, Number(seconds)];
          }),
      ),
    },
    swift: {
      concurrency: dto.ISLAND_SWIFT_CONCURRENCY ?? 16,
      timeoutMs: dto.ISLAND_SWIFT_TIMEOUT_MS ?? 60_000,
      retries: dto.ISLAND_SWIFT_RETRIES ?? 4,
    },
    rpc: {
      url: dto.ISLAND_RPC_URL ?? dto.ISLAND_AMQP_URL ?? LOCAL_DEFAULTS.amqpUrl,
      exchange: dto.ISLAND_RPC_EXCHANGE ?? 'openstack',
      topic: dto.ISLAND_RPC_TOPIC ?? 'island-volume',
      server: dto.ISLAND_RPC_SERVER ?? host,
      backendName: dto.ISLAND_RPC_BACKEND_NAME ?? 'island',
    },
    log: { level: (dto.ISLAND_LOG_LEVEL ?? 'log') as LogLevel },
    heap: { oldSpaceMib: dto.ISLAND_HEAP_MIB ?? DEFAULT_HEAP_MIB },
    lazyRestore: dto.ISLAND_LAZY_RESTORE !== '0',
    keys: keys as KekManagerConfig,
  };
}

function describe(error: ValidationError, path = ''): string[] {
  const name = path ? `${path}.${error.property}` : error.property;
  const own = Object.values(error.constraints ?? {}).map((m) => `${name}: ${m.replace(`${error.property} `, '')}`);
  return [...own, ...(error.children ?? []).flatMap((c) => describe(c, name))];
}

function parseJson(variable: string, text: string, problems: string[]): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    problems.push(`${variable}: not valid JSON (${(e as Error).message})`);
    return undefined;
  }
}

function parseRegions(text: string | undefined, problems: string[]): RegionConfig[] {
  const value = text === undefined ? LOCAL_DEFAULTS.regions : parseJson('ISLAND_REGIONS', text, problems);
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length === 0) {
    problems.push('ISLAND_REGIONS: must be a non-empty JSON array of regions');
    return [];
  }
  const regions: RegionConfig[] = [];
  value.forEach((item: unknown, i: number) => {
    if (typeof item !== 'object' || item === null) {
      problems.push(`ISLAND_REGIONS[${i}]: must be an object`);
      return;
    }
    const dto = plainToInstance(RegionDto, item);
    const errors = validateSync(dto, { forbidUnknownValues: true }).flatMap((e) => describe(e));
    if (errors.length > 0) {
      problems.push(...errors.map((m) => `ISLAND_REGIONS[${i}].${m}`));
      return;
    }
    regions.push({
      name: dto.name,
      swift: {
        authUrl: dto.authUrl,
        authVersion: dto.authVersion ?? (/\/v3\/?$/.test(dto.authUrl) ? '3' : '1'),
        user: dto.user,
        key: dto.key,
        ...(dto.project !== undefined && { project: dto.project }),
        ...(dto.domain !== undefined && { domain: dto.domain }),
      },
      container: dto.container ?? 'island',
    });
  });
  const names = regions.map((r) => r.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) problems.push(`ISLAND_REGIONS: region ${dup} is listed twice`);
  return regions;
}

function keystoneConfig(dto: EnvDto, problems: string[]): KeystoneConfig | undefined {
  if (dto.ISLAND_KEYSTONE_URL === undefined) return undefined;
  const missing = (['ISLAND_KEYSTONE_USER', 'ISLAND_KEYSTONE_PASSWORD'] as const).filter((name) => !dto[name]);
  for (const name of missing) problems.push(`${name}: needed with ISLAND_KEYSTONE_URL (the service user that validates tokens)`);
  if (missing.length > 0) return undefined;
  return {
    url: dto.ISLAND_KEYSTONE_URL.replace(/\/+$/, ''),
    user: dto.ISLAND_KEYSTONE_USER as string,
    password: dto.ISLAND_KEYSTONE_PASSWORD as string,
    project: dto.ISLAND_KEYSTONE_PROJECT ?? 'service',
    domain: dto.ISLAND_KEYSTONE_DOMAIN ?? 'Default',
    adminProject: dto.ISLAND_KEYSTONE_ADMIN_PROJECT ?? 'admin',
    cacheSeconds: dto.ISLAND_KEYSTONE_CACHE_SECONDS ?? 60,
  };
}

function kekManagerConfig(dto: EnvDto, keystone: KeystoneConfig | undefined, problems: string[]): KekManagerConfig | undefined {
  if (dto.ISLAND_KEK_MANAGER !== 'barbican') return { manager: 'file', file: dto.ISLAND_KEK_FILE ?? '/var/lib/island/kek' };
  if (!keystone) {
    problems.push('ISLAND_KEK_MANAGER: barbican needs ISLAND_KEYSTONE_URL, _USER and _PASSWORD (the service user that reads the KEK)');
    return undefined;
  }
  return {
    manager: 'barbican',
    keystone,
    ...(dto.ISLAND_BARBICAN_URL && { url: dto.ISLAND_BARBICAN_URL.replace(/\/+$/, '') }),
    secretName: dto.ISLAND_BARBICAN_SECRET_NAME ?? 'island-kek',
  };
}

function parseTokens(text: string | undefined, problems: string[]): Map<string, string> | undefined {
  if (text === undefined) return undefined;
  const value = parseJson('ISLAND_TOKENS', text, problems);
  if (value === undefined) return undefined;
  const ok =
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    Object.entries(value).every(([t, p]) => STATIC_TOKEN.test(t) && typeof p === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(p));
  if (!ok) {
    problems.push('ISLAND_TOKENS: must be a JSON object {"<token>": "<project name>"}, each token 8 to 4096 characters of A-Z a-z 0-9 - . _ ~ + /');
    return undefined;
  }
  return new Map(Object.entries(value as Record<string, string>));
}
