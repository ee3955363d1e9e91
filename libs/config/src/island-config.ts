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

export interface IslandConfig {
  database: { url: string };
  amqp: { url: string; prefetch: number; namespace?: string };
  regions: RegionConfig[];
  /** The region this process belongs to; always one of `regions`. */
  region: string;
  host: { name: string; dataDir: string };
  http: { bindAddress: string };
  ports: { api: number; agent: number; worker: number; gc: number };
  /** Static bearer tokens (development mode): the admin token and project tokens (token → project). */
  auth: { adminToken: string; tokens: ReadonlyMap<string, string> };
  blocks: { size: number };
  gc: { graceSeconds: number; intervalSeconds: number };
  swift: { concurrency: number; timeoutMs: number; retries: number };
  rpc: { exchange: string; topic: string; server: string; backendName: string };
  log: { level: LogLevel };
}
