import { randomUUID } from 'node:crypto';
import { Catalog, HostReport, JobKind, NEW_SNAPSHOT_COUNTERS, SnapshotEntity, snapshotPointInTime, UNPLACED_VOLUME, VolumeEntity } from '@island/catalog';
import { AGENT_VERSION } from '@island/contracts';
import { createTestDatabase, TestDatabase } from '@island/catalog/testing';
import { UnitOfWork } from '../../outbox/unit-of-work';
import { OutboxRelay } from '../../outbox/outbox-relay.service';

export const REGION = 'r1';
export const HOST = 'host-1';
const BLOCK_SIZE = 65536;

/** A real catalog (a fresh PostgreSQL database) with a unit of work whose outbox is read by the test, not relayed. */
export class CatalogFixture {
  readonly uow: UnitOfWork;
  private constructor(readonly db: TestDatabase) {
    this.uow = new UnitOfWork(db.dataSource, { kick: () => undefined } as unknown as OutboxRelay);
  }

  static async create(): Promise<CatalogFixture> {
    const db = await createTestDatabase();
    await db.dataSource.query(`INSERT INTO project (id) VALUES ('p1')`);
    await db.dataSource.query(`INSERT INTO region (name, container) VALUES ($1, 'island')`, [REGION]);
    const fixture = new CatalogFixture(db);
    await fixture.heartbeat();
    return fixture;
  }

  /** A heartbeat of HOST's agent (this release's, with a terabyte free), with the given fields instead. */
  heartbeat(fields: Partial<HostReport> = {}): Promise<void> {
    return this.catalog.hosts.recordHeartbeat({
      name: HOST,
      region: REGION,
      dataDir: '/data',
      capacityBytes: 1e12,
      freeBytes: 1e12,
      agentVersion: AGENT_VERSION,
      ...fields,
    });
  }

  drop(): Promise<void> {
    return this.db.drop();
  }

  get catalog(): Catalog {
    return new Catalog(this.db.dataSource.manager);
  }

  /** A volume whose image lives on HOST (placed), with the given fields. */
  async placedVolume(fields: Partial<VolumeEntity> = {}): Promise<VolumeEntity> {
    const id = randomUUID();
    return this.catalog.volumes.add({
      id,
      projectId: 'p1',
      name: 'v',
      region: REGION,
      sizeBytes: 16 * BLOCK_SIZE,
      blockSize: BLOCK_SIZE,
      status: 'available',
      ...UNPLACED_VOLUME,
      host: HOST,
      imagePath: `/data/volumes/${id}.qcow2`,
      managedBy: null,
      replicaOf: null,
      sourceSnapshotId: null,
      ...fields,
    });
  }

  /** A snapshot of a placed volume as SnapshotService makes it: `creating`, its point in time named, its job running. */
  async newSnapshot(volume: VolumeEntity, fields: Partial<SnapshotEntity> = {}): Promise<SnapshotEntity> {
    const seq = await this.catalog.volumes.takeSeq(volume.id);
    const snapshot = await this.catalog.snapshots.add({
      id: randomUUID(),
      volumeId: volume.id,
      projectId: volume.projectId,
      region: volume.region,
      seq,
      name: '',
      status: 'creating',
      statusReason: null,
      pointInTime: snapshotPointInTime(seq),
      sizeBytes: volume.sizeBytes,
      blockSize: volume.blockSize,
      manifestObject: null,
      manifestSealed: false,
      ...NEW_SNAPSHOT_COUNTERS,
      copyOf: null,
      copiedFrom: null,
      copyTransfer: null,
      groupId: null,
      committedAt: null,
      deletedAt: null,
      ...fields,
    });
    await this.startJob(fields.copyOf ? 'snapshot-copy' : 'snapshot', snapshot.id, 'snapshot');
    return snapshot;
  }

  async startJob(kind: JobKind, resourceId: string, type: 'volume' | 'snapshot', params: object = {}) {
    return this.catalog.jobs.start(kind, { type, id: resourceId, projectId: 'p1' }, params as never);
  }

  /** The messages the state machine wrote for a contract, oldest first (payloads). */
  async sent<T = Record<string, unknown>>(contract: { name: string }): Promise<T[]> {
    const rows = (await this.db.dataSource.query(`SELECT payload FROM outbox WHERE contract = $1 ORDER BY id`, [contract.name])) as { payload: T }[];
    return rows.map((r) => r.payload);
  }

  async clearOutbox(): Promise<void> {
    await this.db.dataSource.query(`DELETE FROM outbox`);
  }

  async snapshot(id: string): Promise<SnapshotEntity> {
    return this.catalog.snapshots.get(id);
  }

  async volume(id: string): Promise<VolumeEntity> {
    return this.catalog.volumes.get(id);
  }

  async jobOf(resourceId: string) {
    const [job] = (await this.db.dataSource.query(
      `SELECT id, status, progress, error, params FROM job WHERE resource_id = $1 ORDER BY created_at DESC LIMIT 1`,
      [resourceId],
    )) as { id: string; status: string; progress: number; error: string | null; params: Record<string, unknown> }[];
    return job;
  }
}
