import { createHash, randomUUID } from 'node:crypto';
import { DataSource, EntityManager } from 'typeorm';
import { sqlRows } from '../ledger/sql-rows';
import { createTestDatabase, TestDatabase } from './test-database';

/** A block's name in the ledger's specs: any 32 bytes will do. */
export const hashOf = (content: string): Buffer => createHash('sha256').update(content).digest();

/** A fresh catalog database for the ledger's specs, with project `p`, and the regions, snapshots and blocks they ask for. */
export class LedgerFixture {
  private constructor(private readonly db: TestDatabase) {}

  static async create(): Promise<LedgerFixture> {
    const db = await createTestDatabase();
    await db.dataSource.query(`INSERT INTO project (id) VALUES ('p')`);
    return new LedgerFixture(db);
  }

  get dataSource(): DataSource {
    return this.db.dataSource;
  }

  drop(): Promise<void> {
    return this.db.drop();
  }

  sql<T>(text: string, params: unknown[] = []): Promise<T[]> {
    return sqlRows<T>(this.db.dataSource.manager, text, params);
  }

  tx<T>(fn: (m: EntityManager) => Promise<T>): Promise<T> {
    return this.db.dataSource.transaction(fn);
  }

  /** A region of its own, for one test: GC marks every collectable block of a region. */
  async newRegion(): Promise<string> {
    const region = `r-${randomUUID().slice(0, 8)}`;
    await this.sql(`INSERT INTO region (name, container) VALUES ($1, 'c')`, [region]);
    return region;
  }

  /** A new volume's snapshot, `uploading`: the only status blocks are claimed for. */
  async uploadingSnapshot(region: string): Promise<string> {
    const [volumeId, snapshotId] = [randomUUID(), randomUUID()];
    await this.sql(`INSERT INTO volume (id, project_id, region, size_bytes, block_size, status) VALUES ($1, 'p', $2, 1048576, 65536, 'available')`, [
      volumeId,
      region,
    ]);
    await this.sql(
      `INSERT INTO snapshot (id, volume_id, project_id, region, seq, status, size_bytes, block_size) VALUES ($1, $2, 'p', $3, 0, 'uploading', 1, 1)`,
      [snapshotId, volumeId, region],
    );
    return snapshotId;
  }

  /** A block in Swift without references whose grace window has passed: GC may take it. */
  async unreferencedBlock(region: string, content: string): Promise<Buffer> {
    const hash = hashOf(content);
    await this.sql(`INSERT INTO block (region, hash, size, stored_size, state, zero_since) VALUES ($1, $2, 1, 10, 'present', now() - interval '1 hour')`, [
      region,
      hash,
    ]);
    return hash;
  }
}
