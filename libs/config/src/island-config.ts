/** A static bearer token: RFC 6750 b64token characters (printable ASCII, no spaces), 8 to 4096 of them. */
export const STATIC_TOKEN = /^[A-Za-z0-9\-._~+/]{8,4096}=*$/;

export type LogLevel = 'error' | 'warn' | 'log' | 'debug' | 'verbose';

export interface SwiftCredentials {
  /** tempauth: http://host:port/auth/v1.0; Keystone: http://host:port/v3 */
  authUrl: string;
  authVersion: '1' | '3';
  user: string;
  key: string;
  /** Keystone v3 only */
  project?: string;
  domain?: string;
}

export interface RegionConfig {
  name: string;
  swift: SwiftCredentials;
  /** Swift container holding this region's blocks and manifests. */
  container: string;
}

/** The Keystone the API validates tokens with, and the service user it validates them as. */
export interface KeystoneConfig {
  /** e.g. http://keystone:5000/v3 (no trailing slash) */
  url: string;
  user: string;
  password: string;
  project: string;
  domain: string;
  /** The project whose `admin` role is island's admin (every project); `admin` elsewhere is that project's. */
  adminProject: string;
  /** A validation is reused until the token expires or for at most this long. */
  cacheSeconds: number;
}

/** The longest a deleted snapshot may stay in the recycle bin: a year (366 days), in seconds. */
export const MAX_SNAPSHOT_RETENTION_SECONDS = 366 * 86400;
/** The block sizes a region may be configured with (ISLAND_BLOCK_SIZE): powers of two from 256 KiB to 4 MiB. */
export const BLOCK_SIZES = [262144, 524288, 1048576, 2097152, 4194304] as const;

export interface IslandConfig {
  database: { url: string };
  amqp: { url: string; prefetch: number; namespace?: string };
  regions: RegionConfig[];
  /** The region this process belongs to; always one of `regions`. */
  region: string;
  host: { name: string; dataDir: string };
  http: { bindAddress: string; tls?: { certFile: string; keyFile: string } };
  ports: { api: number; agent: number; worker: number; gc: number };
  /**
   * Who may call the API: Keystone when configured (static tokens are then refused), else static bearer tokens
   * (development mode: the admin token and project tokens, token → project).
   */
  auth: { adminToken: string; tokens: ReadonlyMap<string, string>; keystone?: KeystoneConfig };
  blocks: { size: number };
  /** Every project's default limits; undefined: unlimited. */
  quotas: { volumes?: number; snapshots?: number; gigabytes?: number };
  gc: { graceSeconds: number; intervalSeconds: number };
  /** Seconds a deleted snapshot stays restorable by default (0: no recycle bin); a project may have its own. */
  recycleBin: { retentionSeconds: number };
  /** Scheduled scrubs: seconds between a region's passes (0: none), and bytes per second a scrub or deep fsck reads (0: unlimited). */
  scrub: { intervalSeconds: number; bytesPerSecond: number };
  /** How often the API sweeps for operations without progress, and the deadlines (seconds) set over its defaults. */
  operations: { sweepSeconds: number; deadlineOverrides: Readonly<Record<string, number>> };
  swift: { concurrency: number; timeoutMs: number; retries: number };
  /** Cinder's side: the broker (its own vhost and user, apart from island's internal traffic), exchange, topic. */
  rpc: { url: string; exchange: string; topic: string; server: string; backendName: string };
  log: { level: LogLevel };
  /** The V8 old-space cap (MiB) the launchers start this process with (ISLAND_HEAP_MIB). */
  heap: { oldSpaceMib: number };
  /** Serve volumes made from snapshots before their content is local, through any export (ISLAND_LAZY_RESTORE). */
  lazyRestore: boolean;
  /** The key manager holding the key-encryption keys that wrap every project's data key. */
  keys: KekManagerConfig;
}

/** A local key file (default), or Barbican reached with the Keystone service user of `auth.keystone`. */
export type KekManagerConfig = { manager: 'file'; file: string } | { manager: 'barbican'; keystone: KeystoneConfig; url?: string; secretName: string };

/** 127.0.0.0/8 and ::1 (also as an IPv4-mapped address): reachable from this machine only. */
export function isLoopbackAddress(address: string): boolean {
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(address) || address === '::1' || /^::ffff:127\./i.test(address) || address === 'localhost';
}
