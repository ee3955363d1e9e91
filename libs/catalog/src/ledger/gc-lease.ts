import { setMaxListeners } from 'node:events';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { Client } from 'pg';
import { DataSource } from 'typeorm';

/**
 * How long GC leases last and when another run may take over the marks of a run whose lease ended
 * (ARCHITECTURE.md, "Fencing", argues these numbers).
 */
export const GC_LEASE = {
  renewEveryMs: 2_000,
  /** A lease lasts this long past the start of its last renewal. */
  lastsMs: 8_000,
  /** Longer than a request sent before the lease ended can take to reach Swift and be stamped there. */
  takeoverMarginMs: 10_000,
  /** A holder whose catalog session is still open (stalled, not dead) is taken over only this long after its lease ended. */
  stalledTakeoverMs: 30 * 60_000,
};

/** The advisory-lock class of leases: the holder's own session holds (class, lease id) while it lives. */
export const GC_LEASE_LOCK_CLASS = 0x6c656173;

/** SQL: the lease of `tokenParam` has not ended. Marks are made only under such a lease. */
export function liveLease(tokenParam: string): string {
  return `EXISTS (SELECT 1 FROM gc_lease WHERE token = ${tokenParam} AND lease_until > now())`;
}

/** Requests in flight under one lease that may listen to its signal before Node warns of a leak. */
const LEASE_SIGNAL_LISTENERS = 64;

/**
 * A GC run's right to act on the blocks it marks `deleting` under `token`. It lives in a catalog session of its own,
 * which holds the lease's advisory lock (so a dead holder can be told from a stalled one), and is renewed by
 * heartbeats on that session. It ends, for good, once it may have ended in the catalog — by this process's
 * monotonic clock, never later than the catalog's `lease_until`: check `ended` right before sending a request under
 * the lease, and give the request `signal`, which fires then.
 */
export class GcLease {
  private readonly abort = new AbortController();
  private readonly heartbeat: NodeJS.Timeout;
  private expiry: NodeJS.Timeout | undefined;
  /** performance.now() at which the lease may have ended. */
  private deadline = 0;
  private renewing = false;

  private constructor(
    private readonly session: Client,
    readonly token: string,
    deadline: number,
  ) {
    session.on('error', () => this.end());
    // every delete in flight under the lease listens to its signal (GC sends 16 at once): above Node's default of 10
    setMaxListeners(LEASE_SIGNAL_LISTENERS, this.abort.signal);
    this.extendTo(deadline);
    this.heartbeat = setInterval(() => void this.renew(), GC_LEASE.renewEveryMs);
  }

  static async open(dataSource: DataSource, region: string): Promise<GcLease> {
    const token = randomUUID();
    const session = new Client({ connectionString: catalogUrl(dataSource), application_name: `island-gc-lease ${token}` });
    session.on('error', () => undefined); // a session lost before the lease exists: open fails below
    await session.connect();
    try {
      // the catalog notices a dead holder's host within about a minute, not the kernel's default two hours
      await session.query(`SET tcp_keepalives_idle = 20; SET tcp_keepalives_interval = 10; SET tcp_keepalives_count = 3`);
      const asked = performance.now();
      const { rows } = await session.query<{ locked: boolean }>(
        `WITH lease AS (
           INSERT INTO gc_lease (token, region, holder, lease_until) VALUES ($1, $2, $3, now() + make_interval(secs => $4)) RETURNING id)
         SELECT pg_try_advisory_lock($5, id) AS locked FROM lease`,
        [token, region, `${hostname()}:${process.pid}`, GC_LEASE.lastsMs / 1000, GC_LEASE_LOCK_CLASS],
      );
      if (!rows[0]?.locked) throw new Error(`GC lease ${token}: its advisory lock is taken`);
      return new GcLease(session, token, asked + GC_LEASE.lastsMs);
    } catch (error) {
      await session.end().catch(() => undefined);
      throw error;
    }
  }

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  /** Read from the clock, not only from `signal`: after a stall, the timer that fires it may not have run yet. */
  get ended(): boolean {
    if (performance.now() >= this.deadline) this.end();
    return this.signal.aborted;
  }

  /**
   * Ends the lease and its session (releasing the advisory lock). Call it when none of its requests is in flight any
   * more: marks still held then wait for a takeover, from the catalog's now on.
   */
  async close(): Promise<void> {
    clearInterval(this.heartbeat);
    this.end();
    try {
      await this.session.query(
        `WITH held AS (SELECT EXISTS (SELECT 1 FROM block WHERE state = 'deleting' AND deleting_by = $1) AS marks),
              shortened AS (UPDATE gc_lease SET lease_until = least(lease_until, now()) WHERE token = $1 AND (SELECT marks FROM held))
         DELETE FROM gc_lease WHERE token = $1 AND NOT (SELECT marks FROM held)`,
        [this.token],
      );
    } catch {
      // the session is gone: the lease ends at its last lease_until
    }
    await this.session.end().catch(() => undefined);
  }

  private async renew(): Promise<void> {
    if (this.renewing || this.ended) return;
    this.renewing = true;
    try {
      // the catalog's now() is no earlier than `asked`, so `asked + lastsMs` is no later than the new lease_until
      const asked = performance.now();
      const { rowCount } = await this.session.query(
        `UPDATE gc_lease SET lease_until = now() + make_interval(secs => $2) WHERE token = $1 AND lease_until > now()`,
        [this.token, GC_LEASE.lastsMs / 1000],
      );
      if (rowCount === 1) this.extendTo(asked + GC_LEASE.lastsMs);
      else this.end();
    } catch {
      // the session is gone or the catalog unreachable: the lease runs out
    } finally {
      this.renewing = false;
    }
  }

  private extendTo(deadline: number): void {
    if (this.signal.aborted) return;
    this.deadline = deadline;
    clearTimeout(this.expiry);
    this.expiry = setTimeout(() => this.end(), Math.max(0, deadline - performance.now()));
  }

  private end(): void {
    clearTimeout(this.expiry);
    this.abort.abort();
  }
}

function catalogUrl(dataSource: DataSource): string {
  const url = dataSource.options.type === 'postgres' ? dataSource.options.url : undefined;
  if (!url) throw new Error('GC leases need the catalog given by URL');
  return url;
}
