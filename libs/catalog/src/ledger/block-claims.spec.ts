import { createHash, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { EntityManager, QueryRunner } from 'typeorm';
import { hashOf, LedgerFixture } from '../testing/ledger-fixture';
import { claimBlocks, markBlocksPresent } from './block-claims';
import { markBlocksForDeletion } from './block-collection';
import { BlocksBeingDeletedError } from './ledger-errors';
import { sqlRows } from './sql-rows';

const hex = (hashes: Buffer[]) => hashes.map((h) => h.toString('hex')).sort();

/** Claims (ARCHITECTURE.md, "Why GC cannot delete a block a snapshot needs") made by one statement, against concurrent claims and GC. */
describe('block claims', () => {
  let fixture: LedgerFixture;
  beforeAll(async () => {
    fixture = await LedgerFixture.create();
  });
  afterAll(async () => fixture?.drop());

  const sql = <T>(text: string, params: unknown[] = []) => fixture.sql<T>(text, params);
  const autocommitted = () => fixture.dataSource.manager;

  /**
   * Runs `claim` behind another session's transaction, in which `first` ran: that one commits once the claim
   * waits for one of its locks. Returns the claim's outcome.
   */
  async function behindAnotherTransaction<T>(first: (other: EntityManager) => Promise<unknown>, claim: () => Promise<T>): Promise<T> {
    const other: QueryRunner = fixture.dataSource.createQueryRunner();
    try {
      await other.startTransaction();
      await first(other.manager);
      const claimed = claim();
      claimed.catch(() => undefined); // awaited below, once the other transaction let it go on
      await someoneWaitsForALock();
      await other.commitTransaction();
      return await claimed;
    } finally {
      if (other.isTransactionActive) await other.rollbackTransaction();
      await other.release();
    }
  }

  /** Resolves once a statement of this database waits for a lock another session holds. */
  async function someoneWaitsForALock(): Promise<void> {
    for (;;) {
      const [row] = await sql<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`);
      if (row.n > 0) return;
      await sleep(20);
    }
  }

  const block = (region: string, hash: Buffer) =>
    sql<{ pending: number; state: string; zero_since: Date | null }>(`SELECT pending, state, zero_since FROM block WHERE region = $1 AND hash = $2`, [
      region,
      hash,
    ]);
  const claimsOf = async (snapshotId: string) =>
    hex((await sql<{ hash: Buffer }>(`SELECT hash FROM block_claim WHERE snapshot_id = $1`, [snapshotId])).map((c) => c.hash));

  it('inserts a new block already counted as claimed, writing its row once', async () => {
    const region = await fixture.newRegion();
    const snapshotId = await fixture.uploadingSnapshot(region);
    const [a, b] = [hashOf('new a'), hashOf('new b')];
    const writes = (m: EntityManager) =>
      sqlRows<{ inserted: number; updated: number }>(
        m,
        `SELECT n_tup_ins::int AS inserted, n_tup_upd::int AS updated FROM pg_stat_xact_user_tables WHERE relname = 'block'`,
      );
    const [before, after] = await fixture.tx(async (m) => {
      const first = await writes(m);
      await claimBlocks(m, snapshotId, region, [
        { hash: a, size: 1 },
        { hash: b, size: 1 },
      ]);
      return [first[0], (await writes(m))[0]];
    });
    expect({ inserted: after.inserted - before.inserted, updated: after.updated - before.updated }).toEqual({ inserted: 2, updated: 0 });
    expect(await block(region, a)).toEqual([{ pending: 1, state: 'uploading', zero_since: null }]);
    expect(await claimsOf(snapshotId)).toEqual(hex([a, b]));
  });

  it('is planned once per session: a second claim on the same connection runs the statement the first one prepared', async () => {
    const region = await fixture.newRegion();
    const [first, second] = [await fixture.uploadingSnapshot(region), await fixture.uploadingSnapshot(region)];
    const prepared = (m: EntityManager) =>
      sqlRows<{ name: string; calls: number }>(m, `SELECT name, (generic_plans + custom_plans)::int AS calls FROM pg_prepared_statements`);
    const [afterFirst, afterSecond] = await fixture.tx(async (m) => {
      await claimBlocks(m, first, region, [{ hash: hashOf('prepared a'), size: 1 }]);
      const one = await prepared(m);
      await claimBlocks(m, second, region, [{ hash: hashOf('prepared b'), size: 1 }]);
      return [one, await prepared(m)];
    });
    expect(afterFirst.map((p) => p.name)).toEqual(['island_claim_blocks_v1']);
    expect(afterSecond).toEqual([{ name: 'island_claim_blocks_v1', calls: afterFirst[0].calls + 1 }]);
    expect(await claimsOf(first)).toEqual(hex([hashOf('prepared a')]));
    expect(await claimsOf(second)).toEqual(hex([hashOf('prepared b')]));
  });

  it('marks each uploaded block present with its own stored size, leaving present and deleting blocks as they are', async () => {
    const region = await fixture.newRegion();
    // statistics taken while no block was uploading, then thousands that are: a catalog between two autovacuum runs
    await sql(`ALTER TABLE block SET (autovacuum_enabled = false)`);
    try {
      await sql(`ANALYZE block`);
      await sql(`INSERT INTO block (region, hash, size, state, pending) SELECT $1, sha256(int4send(g)), 1, 'uploading', 1 FROM generate_series(1, 6000) g`, [
        region,
      ]);
      const hashOfRow = (g: number) =>
        createHash('sha256')
          .update(Buffer.from([0, 0, g >> 8, g & 255]))
          .digest();
      const uploaded = Array.from({ length: 32 }, (_, i) => ({ hash: hashOfRow(100 + i), storedSize: 1000 + i }));
      await sql(`UPDATE block SET state = 'present', stored_size = 7 WHERE region = $1 AND hash = $2`, [region, uploaded[0].hash]);
      await sql(`UPDATE block SET state = 'deleting', stored_size = 8 WHERE region = $1 AND hash = $2`, [region, uploaded[1].hash]);
      await markBlocksPresent(autocommitted(), region, [...uploaded].reverse());
      const rows = await sql<{ hash: Buffer; state: string; stored_size: number }>(
        `SELECT hash, state, stored_size FROM block WHERE region = $1 AND hash = ANY($2::bytea[])`,
        [region, uploaded.map((u) => u.hash)],
      );
      const byHash = new Map(rows.map((r) => [r.hash.toString('hex'), r]));
      expect(byHash.get(uploaded[0].hash.toString('hex'))).toMatchObject({ state: 'present', stored_size: 7 });
      expect(byHash.get(uploaded[1].hash.toString('hex'))).toMatchObject({ state: 'deleting', stored_size: 8 });
      for (const u of uploaded.slice(2)) expect(byHash.get(u.hash.toString('hex'))).toMatchObject({ state: 'present', stored_size: u.storedSize });
      const [{ uploading }] = await sql<{ uploading: number }>(`SELECT count(*)::int AS uploading FROM block WHERE region = $1 AND state = 'uploading'`, [
        region,
      ]);
      expect(uploading).toBe(6000 - 32);
    } finally {
      await sql(`ALTER TABLE block RESET (autovacuum_enabled)`);
    }
  });

  it('raises an existing block’s claim count once per snapshot and tells a present block from one to upload', async () => {
    const region = await fixture.newRegion();
    const [present, uploading] = [hashOf('present'), hashOf('uploading')];
    await sql(`INSERT INTO block (region, hash, size, state, zero_since) VALUES ($1, $2, 1, 'present', now()), ($1, $3, 1, 'uploading', now())`, [
      region,
      present,
      uploading,
    ]);
    const snapshotId = await fixture.uploadingSnapshot(region);
    const blocks = [
      { hash: present, size: 1 },
      { hash: uploading, size: 1 },
    ];
    const first = await claimBlocks(autocommitted(), snapshotId, region, blocks);
    const redelivered = await claimBlocks(autocommitted(), snapshotId, region, blocks);
    for (const result of [first, redelivered])
      expect({ present: hex(result.present), upload: hex(result.upload) }).toEqual({ present: hex([present]), upload: hex([uploading]) });
    expect(await block(region, present)).toEqual([{ pending: 1, state: 'present', zero_since: null }]);
  });

  it('refuses a claim whose block GC marked while the claim waited for its row, claiming and inserting nothing', async () => {
    const region = await fixture.newRegion();
    const [marked, fresh] = [await fixture.unreferencedBlock(region, 'marked meanwhile'), hashOf('fresh')];
    const token = randomUUID();
    await sql(`INSERT INTO gc_lease (token, region, holder, lease_until) VALUES ($1, $2, 'test', now() + interval '1 hour')`, [token, region]);
    const snapshotId = await fixture.uploadingSnapshot(region);

    const claim = behindAnotherTransaction(
      (gc) => markBlocksForDeletion(gc, region, 0, 10, token),
      () =>
        claimBlocks(autocommitted(), snapshotId, region, [
          { hash: fresh, size: 1 },
          { hash: marked, size: 1 },
        ]),
    );

    await expect(claim).rejects.toBeInstanceOf(BlocksBeingDeletedError);
    expect(await claimsOf(snapshotId)).toEqual([]);
    expect(await block(region, fresh)).toEqual([]);
    expect(await block(region, marked)).toEqual([{ pending: 0, state: 'deleting', zero_since: expect.any(Date) }]);
  });

  it('claims a block another snapshot’s claim inserted while it ran, counting both claims', async () => {
    const region = await fixture.newRegion();
    const [contested, own] = [hashOf('contested by two'), hashOf('own')];
    const [first, second] = [await fixture.uploadingSnapshot(region), await fixture.uploadingSnapshot(region)];

    const claim = behindAnotherTransaction(
      (other) => claimBlocks(other, first, region, [{ hash: contested, size: 1 }]),
      () =>
        claimBlocks(autocommitted(), second, region, [
          { hash: contested, size: 1 },
          { hash: own, size: 1 },
        ]),
    );

    expect(hex((await claim).upload)).toEqual(hex([contested, own]));
    expect(await block(region, contested)).toEqual([{ pending: 2, state: 'uploading', zero_since: null }]);
    expect([await claimsOf(first), await claimsOf(second)]).toEqual([hex([contested]), hex([contested, own])]);
  });

  it('counts one claim when two claims of the same snapshot race to insert a block', async () => {
    const region = await fixture.newRegion();
    const contested = hashOf('contested by one snapshot');
    const snapshotId = await fixture.uploadingSnapshot(region);

    const claim = behindAnotherTransaction(
      (other) => claimBlocks(other, snapshotId, region, [{ hash: contested, size: 1 }]),
      () => claimBlocks(autocommitted(), snapshotId, region, [{ hash: contested, size: 1 }]),
    );

    expect(hex((await claim).upload)).toEqual(hex([contested]));
    expect(await block(region, contested)).toEqual([{ pending: 1, state: 'uploading', zero_since: null }]);
    expect(await claimsOf(snapshotId)).toEqual(hex([contested]));
  });
});
