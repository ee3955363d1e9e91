/** Socket errors of a connection that could not be made or was cut. */
const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND']);
/**
 * PostgreSQL's own refusals of a server going away or not yet there: admin_shutdown, crash_shutdown,
 * cannot_connect_now (SQLSTATE 57P01–57P03); class 08 is every connection exception.
 */
const SERVER_GOING_AWAY = new Set(['57P01', '57P02', '57P03']);
/** What node-postgres says when the server closes a connection under it (these errors carry no code). */
const CUT_CONNECTION = /Connection terminated|connection error and is not queryable|Client was closed and is not queryable/;

/**
 * Whether an error means the catalog database cannot be reached right now (stopped, restarting, the network
 * gone) — not that a statement is wrong. Such failures are worth retrying and are answered 503, not 500.
 * TypeORM wraps the driver's error (`driverError`); both are looked at.
 */
export function isCatalogUnavailable(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; typeof e === 'object' && e !== null && depth < 3; depth++) {
    const { code, message } = e as { code?: unknown; message?: unknown };
    if (typeof code === 'string' && (CONNECTION_CODES.has(code) || SERVER_GOING_AWAY.has(code) || code.startsWith('08'))) return true;
    if (typeof message === 'string' && CUT_CONNECTION.test(message)) return true;
    e = (e as { driverError?: unknown }).driverError ?? (e as { cause?: unknown }).cause;
  }
  return false;
}
