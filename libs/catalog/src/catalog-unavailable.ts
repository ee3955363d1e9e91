/** Socket errors of a connection that could not be made: the request never reached the database. */
const NOT_CONNECTED_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENOTFOUND', 'ENETUNREACH']);
/** Socket errors of a connection cut under a request: it may or may not have taken effect. */
const CUT_CODES = new Set(['ECONNRESET', 'ETIMEDOUT', 'EPIPE']);
/** PostgreSQL refusing a new session while it starts or stops (cannot_connect_now). */
const NOT_ACCEPTING = '57P03';
/** PostgreSQL ending sessions (admin_shutdown, crash_shutdown); class 08 is every connection exception. */
const SESSIONS_ENDED = new Set(['57P01', '57P02']);
/** pg-pool giving up on a connection slot: the request never reached the database. */
const POOL_TIMEOUT = /timeout exceeded when trying to connect/;
/** What node-postgres says when the server closes a connection under it (these errors carry no code). */
const CUT_CONNECTION = /Connection terminated|connection error and is not queryable|Client was closed and is not queryable/;

/**
 * Whether an error means the catalog database cannot be reached right now (stopped, restarting, the network gone)
 * — not that a statement is wrong — and how: `not-reached` (no statement ran: nothing changed) or `cut` (the
 * connection went away under it: it may or may not have taken effect). null for any other error. TypeORM wraps the
 * driver's error (`driverError`); both are looked at.
 */
export function catalogOutage(error: unknown): 'not-reached' | 'cut' | null {
  for (let e: unknown = error, depth = 0; typeof e === 'object' && e !== null && depth < 3; depth++) {
    const { code, message } = e as { code?: unknown; message?: unknown };
    if (typeof code === 'string') {
      if (NOT_CONNECTED_CODES.has(code) || code === NOT_ACCEPTING) return 'not-reached';
      if (CUT_CODES.has(code) || SESSIONS_ENDED.has(code) || code.startsWith('08')) return 'cut';
    }
    if (typeof message === 'string') {
      if (POOL_TIMEOUT.test(message)) return 'not-reached';
      if (CUT_CONNECTION.test(message)) return 'cut';
    }
    e = (e as { driverError?: unknown }).driverError ?? (e as { cause?: unknown }).cause;
  }
  return null;
}

/** Whether the catalog cannot be reached right now (see catalogOutage): worth retrying, answered 503, not 500. */
export function isCatalogUnavailable(error: unknown): boolean {
  return catalogOutage(error) !== null;
}
