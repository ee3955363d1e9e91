import { DataSource } from 'typeorm';

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

  /** Flushed, not inserted: pg_walinspect reads only flushed WAL (the fill and other sessions commit asynchronously). */
  async position(): Promise<string> {
    const [row] = await this.db.query(`SELECT pg_current_wal_flush_lsn()::text AS lsn`);
    return row.lsn;
  }

  async bytesSince(start: string): Promise<number> {
    const [row] = await this.db.query(
      `SELECT coalesce(sum(record_length), 0)::bigint AS bytes
         FROM pg_get_wal_records_info($1::pg_lsn, pg_current_wal_flush_lsn())
        WHERE block_ref ~ ('rel \\d+/' || $2::oid || '/')`,
      [start, this.databaseOid],
    );
    return Number(row.bytes);
  }
}
