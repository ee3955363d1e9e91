import { DataSource } from 'typeorm';

const FLUSH_POLL_MS = 10;
const FLUSH_WAIT_MS = 5_000;

/**
 * WAL written for one database's relations between two points (pg_walinspect): the records whose block references
 * name the database, so other databases on the same server do not count. Transaction commit records (no block
 * reference) are left out; they are a few dozen bytes each.
 */
export class WalMeter {
  private constructor(
    private readonly db: DataSource,
    private readonly databaseOid: number,
  ) {}

  static async open(db: DataSource): Promise<WalMeter> {
    await db.query(`CREATE EXTENSION IF NOT EXISTS pg_walinspect`);
    const [row] = await db.query(`SELECT oid FROM pg_database WHERE datname = current_database()`);
    return new WalMeter(db, Number(row.oid));
  }

  /**
   * Where the WAL ends now, once all of it is flushed: pg_walinspect reads only flushed WAL, and a session that commits
   * asynchronously returns before its WAL is flushed (the WAL writer flushes it within wal_writer_delay).
   */
  async position(): Promise<string> {
    const [{ lsn }] = await this.db.query(`SELECT pg_current_wal_insert_lsn()::text AS lsn`);
    for (let waited = 0; ; waited += FLUSH_POLL_MS) {
      const [{ flushed }] = await this.db.query(`SELECT pg_current_wal_flush_lsn() >= $1::pg_lsn AS flushed`, [lsn]);
      if (flushed) return lsn;
      if (waited >= FLUSH_WAIT_MS) throw new Error(`WAL up to ${lsn} was not flushed within ${FLUSH_WAIT_MS} ms`);
      await new Promise((r) => setTimeout(r, FLUSH_POLL_MS));
    }
  }

  async bytesSince(start: string): Promise<number> {
    const end = await this.position();
    // pg_walinspect refuses a range that ends where it starts ("cannot accept future start LSN")
    if (end === start) return 0;
    const [row] = await this.db.query(
      `SELECT coalesce(sum(record_length), 0)::bigint AS bytes
         FROM pg_get_wal_records_info($1::pg_lsn, $2::pg_lsn)
        WHERE block_ref ~ ('rel \\d+/' || $3::oid || '/')`,
      [start, end, this.databaseOid],
    );
    return Number(row.bytes);
  }
}
