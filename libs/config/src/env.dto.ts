import { Transform } from 'class-transformer';
import { IsIn, IsInt, IsIP, IsNumber, IsOptional, IsString, Matches, Max, MaxLength, Min } from 'class-validator';
import { BLOCK_SIZES, MAX_SNAPSHOT_RETENTION_SECONDS, STATIC_TOKEN } from './island-config';

const toInt = ({ value }: { value: unknown }) => (typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value);
const toNumber = ({ value }: { value: unknown }) => (typeof value === 'string' && /^-?\d+(\.\d+)?$/.test(value) ? Number(value) : value);

/**
 * Every environment variable island reads, as the process received it. Documented in docs/configuration.md;
 * the defaults point at the local services started by scripts/services.sh.
 */
export class EnvDto {
  @IsOptional()
  @Matches(/^postgres(ql)?:\/\/\S+$/, { message: 'must be a postgres:// URL' })
  ISLAND_DATABASE_URL?: string;

  @IsOptional()
  @Matches(/^amqps?:\/\/\S+$/, { message: 'must be an amqp:// URL' })
  ISLAND_AMQP_URL?: string;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(1000)
  ISLAND_AMQP_PREFETCH?: number;

  /** Prefix of every exchange and queue: several islands (or test runs) can share one RabbitMQ. */
  @IsOptional()
  @Matches(/^[a-z0-9][a-z0-9-]{0,40}$/, { message: 'must be lower-case letters, digits and dashes' })
  ISLAND_AMQP_NAMESPACE?: string;

  /** JSON array of regions: [{"name","authUrl","user","key","authVersion"?,"project"?,"domain"?,"container"?}] */
  @IsOptional()
  @IsString()
  ISLAND_REGIONS?: string;

  /** The region this process belongs to (hosts, agents and workers serve one region). */
  @IsOptional()
  @Matches(/^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/, { message: 'must be a region name' })
  ISLAND_REGION?: string;

  /**
   * The host name agents and workers register and route under; the first label of the machine's hostname by
   * default. No dots: it is one word of AMQP topic routing keys.
   */
  @IsOptional()
  @Matches(/^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/, { message: 'must be a host name of letters, digits, - and _' })
  ISLAND_HOST?: string;

  /** Where the node agent keeps this host's qcow2 images. */
  @IsOptional()
  @Matches(/^\//, { message: 'must be an absolute path' })
  ISLAND_DATA_DIR?: string;

  /** Address every service's HTTP port binds to (0.0.0.0 in containers). */
  @IsOptional()
  @IsIP()
  ISLAND_BIND_ADDRESS?: string;

  @IsOptional() @Transform(toInt) @IsInt() @Min(0) @Max(65535) ISLAND_API_PORT?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(0) @Max(65535) ISLAND_AGENT_PORT?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(0) @Max(65535) ISLAND_WORKER_PORT?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(0) @Max(65535) ISLAND_GC_PORT?: number;

  /** The admin token: sees every project. */
  @IsOptional()
  @IsString()
  @Matches(STATIC_TOKEN, { message: 'must be 8 to 4096 characters of A-Z a-z 0-9 - . _ ~ + /' })
  ISLAND_ADMIN_TOKEN?: string;

  /** JSON object mapping bearer tokens to project names: {"<token>": "<project>"}. */
  @IsOptional()
  @IsString()
  ISLAND_TOKENS?: string;

  /** Snapshot block size in bytes: a power of two from 256 KiB to 4 MiB. */
  @IsOptional()
  @Transform(toInt)
  @IsIn([...BLOCK_SIZES], {
    message: 'must be a power of two from 262144 (256 KiB) to 4194304 (4 MiB)',
  })
  ISLAND_BLOCK_SIZE?: number;

  /** Seconds a block stays in Swift after its last reference is gone. */
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(0)
  ISLAND_GC_GRACE_SECONDS?: number;

  /** Seconds between the GC worker's own runs over every region; 0: only when asked (`island gc run`). */
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(86400)
  ISLAND_GC_INTERVAL_SECONDS?: number;

  /**
   * Hours between the GC worker's scheduled scrubs of a region (`fsck --deep` of every block, repairing from other
   * regions, marking what cannot be repaired); fractions allowed; 0: only when asked (`island fsck --deep`).
   */
  @IsOptional()
  @Transform(toNumber)
  @IsNumber({ allowNaN: false, allowInfinity: false }, { message: 'must be a number of hours' })
  @Min(0)
  @Max(8760)
  ISLAND_SCRUB_INTERVAL_HOURS?: number;

  /** MiB per second a scrub, and a deep fsck unless it names its own rate, reads from a region's Swift; 0: unlimited. */
  @IsOptional()
  @Transform(toNumber)
  @IsNumber({ allowNaN: false, allowInfinity: false }, { message: 'must be a number of MiB per second' })
  @Min(0)
  @Max(100000)
  ISLAND_SCRUB_MIB_PER_S?: number;

  /**
   * Seconds an operation may go without progress before the API ends it, per kind, over the defaults:
   * e.g. `attach=600,snapshot=1800`.
   */
  @IsOptional()
  @IsString()
  @Matches(/^[a-z-]+=\d+(,[a-z-]+=\d+)*$/, { message: 'must be kind=seconds pairs separated by commas, e.g. attach=600,snapshot=1800' })
  ISLAND_OPERATION_DEADLINES?: string;

  /**
   * Seconds a deleted snapshot stays restorable in the recycle bin (`snapshot list --deleted`, `snapshot undelete`)
   * before its references are dropped; 0 (the default): no bin, a delete drops them at once. A project's own
   * value (`island quota set --snapshot-retention`) wins.
   */
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(MAX_SNAPSHOT_RETENTION_SECONDS)
  ISLAND_SNAPSHOT_RETENTION_SECONDS?: number;

  /** Seconds between the API's sweeps for operations past their deadline. */
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(3600)
  ISLAND_SWEEP_SECONDS?: number;

  /**
   * The V8 old-space cap of every island process, in MiB: the launchers pass it to node (--max-old-space-size), so
   * garbage is collected before a process's resident set grows past its budget (docs/performance.md).
   */
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(64)
  @Max(16384)
  ISLAND_HEAP_MIB?: number;

  /**
   * '1' (the default): a volume made from a snapshot and attached with an NBD export is served before its content is
   * local and fills in the background (docs/attached-volumes.md); '0': it is restored whole before the attach returns.
   */
  @IsOptional()
  @IsIn(['0', '1'], { message: "must be '0' or '1'" })
  ISLAND_LAZY_RESTORE?: string;

  /** Parallel Swift requests per process. */
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(256)
  ISLAND_SWIFT_CONCURRENCY?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(100)
  ISLAND_SWIFT_TIMEOUT_MS?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(20)
  ISLAND_SWIFT_RETRIES?: number;

  /**
   * The RabbitMQ Cinder's driver calls island on (oslo.messaging); default ISLAND_AMQP_URL. Give island's own
   * traffic (ISLAND_AMQP_URL) a vhost and user of its own: whoever can publish there can forge job results.
   */
  @IsOptional()
  @Matches(/^amqps?:\/\/\S+$/, { message: 'must be an amqp:// URL' })
  ISLAND_RPC_URL?: string;

  /** oslo.messaging control exchange and topic Cinder's driver calls. */
  @IsOptional()
  @Matches(/^[A-Za-z0-9._-]+$/, { message: 'must be an exchange name' })
  ISLAND_RPC_EXCHANGE?: string;

  @IsOptional()
  @Matches(/^[A-Za-z0-9._-]+$/, { message: 'must be a topic name' })
  ISLAND_RPC_TOPIC?: string;

  /** This API instance's oslo.messaging server name (calls prepared with server= reach only it). */
  @IsOptional()
  @Matches(/^[A-Za-z0-9._-]+$/, { message: 'must be a server name' })
  ISLAND_RPC_SERVER?: string;

  /** The backend name get_volume_stats reports (cinder.conf's volume_backend_name). */
  @IsOptional()
  @Matches(/^[A-Za-z0-9._-]+$/, { message: 'must be a backend name' })
  ISLAND_RPC_BACKEND_NAME?: string;

  @IsOptional()
  @IsIn(['error', 'warn', 'log', 'debug', 'verbose'])
  ISLAND_LOG_LEVEL?: string;

  /**
   * Keystone v3 (e.g. http://keystone:5000/v3): the API then takes X-Auth-Token and validates it there, with
   * the service user below; static tokens are off. Unset: static tokens (development mode, loopback only).
   */
  @IsOptional()
  @Matches(/^https?:\/\/\S+\/v3\/?$/, { message: 'must be an http(s) URL ending in /v3' })
  ISLAND_KEYSTONE_URL?: string;

  @IsOptional()
  @IsString()
  @MaxLength(255)
  ISLAND_KEYSTONE_USER?: string;

  @IsOptional()
  @IsString()
  @MaxLength(4096)
  ISLAND_KEYSTONE_PASSWORD?: string;

  /** The service user's project (default service) and its and the user's domain (default Default). */
  @IsOptional()
  @IsString()
  @MaxLength(255)
  ISLAND_KEYSTONE_PROJECT?: string;

  @IsOptional()
  @IsString()
  @MaxLength(255)
  ISLAND_KEYSTONE_DOMAIN?: string;

  /** The project whose `admin` role makes a caller island's admin (default admin, Keystone's admin_project_name). */
  @IsOptional()
  @IsString()
  @MaxLength(255)
  ISLAND_KEYSTONE_ADMIN_PROJECT?: string;

  /** Longest time a validated token is trusted without asking Keystone again: a revoked token works at most this long. */
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(3600)
  ISLAND_KEYSTONE_CACHE_SECONDS?: number;

  /** Default limits of every project (unset: unlimited); the admin sets a project's own with PUT /v1/quotas/{project}. */
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(0)
  ISLAND_QUOTA_VOLUMES?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(0)
  ISLAND_QUOTA_SNAPSHOTS?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(0)
  ISLAND_QUOTA_GIGABYTES?: number;

  /** The API serves HTTPS with this certificate chain and key (PEM files); both or neither. */
  @IsOptional()
  @Matches(/^\//, { message: 'must be an absolute path' })
  ISLAND_TLS_CERT?: string;

  @IsOptional()
  @Matches(/^\//, { message: 'must be an absolute path' })
  ISLAND_TLS_KEY?: string;
  /** Where the key-encryption key comes from: a local key file (default) or OpenStack Barbican. */
  @IsOptional()
  @IsIn(['file', 'barbican'], { message: "must be 'file' or 'barbican'" })
  ISLAND_KEK_MANAGER?: string;

  /** The local key file (made with mode 0600 on first use); default /var/lib/island/kek. */
  @IsOptional()
  @Matches(/^\//, { message: 'must be an absolute path' })
  ISLAND_KEK_FILE?: string;

  /** Barbican's endpoint, e.g. http://barbican:9311 (default: the key-manager entry of Keystone's catalog). */
  @IsOptional()
  @Matches(/^https?:\/\/\S+$/, { message: 'must be an http(s) URL' })
  ISLAND_BARBICAN_URL?: string;

  /** The name of island's KEK secrets in Barbican (default island-kek). */
  @IsOptional()
  @Matches(/^[A-Za-z0-9_.-]{1,64}$/, { message: 'must be 1 to 64 characters of A-Z a-z 0-9 _ . -' })
  ISLAND_BARBICAN_SECRET_NAME?: string;
}
