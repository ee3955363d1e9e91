import { randomUUID } from 'node:crypto';
import { EntityManager } from 'typeorm';
import { hashOf, LedgerFixture } from '../testing/ledger-fixture';
import { forgetEndedLeases, hasAbandonedMarks, takeOverAbandonedMarks } from './abandoned-marks';
import { claimBlocks } from './block-claims';
import { waitingForBlockDeletes } from './block-deletion-wait';
import { forgetDeletedBlocks, markBlocksForDeletion, unmarkBlocks } from './block-collection';
import { GC_LEASE, GcLease } from './gc-lease';
import { BlocksBeingDeletedError } from './ledger-errors';

const hex = (blocks: { hash: Buffer }[]) => blocks.map((b) => b.hash.toString('hex'));

/** The rules of GC leases and takeovers (ARCHITECTURE.md, "Fencing") on the real PostgreSQL, with real lease sessions. */
describe('GC leases', () => {
  let fixture: LedgerFixture;
  const open: GcLease[] = [];

  beforeAll(async () => {
    fixture = await LedgerFixture.create();
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((lease) => lease.close()));
  });
  afterAll(async () => fixture?.drop());

  const tx = <T>(fn: (m: EntityManager) => Promise<T>) => fixture.tx(fn);
  const sql = <T>(text: string, params: unknown[] = []) => fixture.sql<T>(text, params);
  const newRegion = () => fixture.newRegion();
  const unreferencedBlock = (region: string, content: string) => fixture.unreferencedBlock(region, content);

  async function lease(region: string): Promise<GcLease> {
    const opened = await GcLease.open(fixture.dataSource, region);
    open.push(opened);
    return opened;
  }

  /** Lets a lease's end lie `seconds` in the past (as if its holder stopped renewing then). */
  const endedAgo = (holder: GcLease, seconds: number) =>
    sql(`UPDATE gc_lease SET lease_until = now() - make_interval(secs => $2) WHERE token = $1`, [holder.token, seconds]);

  /** What a crash of the holder's process does to its catalog session. */
  const killSession = (holder: GcLease) =>
    sql(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, [`island-gc-lease ${holder.token}`]);

  const pastMargin = GC_LEASE.takeoverMarginMs / 1000 + 1;

  it('marks only under a live lease, and a lease that ended stays ended', async () => {
    const region = await newRegion();
    const hash = await unreferencedBlock(region, 'live');
    const holder = await lease(region);
    await endedAgo(holder, 1);
    expect(await tx((m) => markBlocksForDeletion(m, region, 0, 10, holder.token))).toEqual([]);
    // its next heartbeat finds the lease over: the holder's signal fires, nothing renews it
    await new Promise((r) => setTimeout(r, GC_LEASE.renewEveryMs + 500));
    expect(holder.signal.aborted).toBe(true);
    const [row] = await sql<{ ended: boolean }>(`SELECT lease_until < now() AS ended FROM gc_lease WHERE token = $1`, [holder.token]);
    expect(row.ended).toBe(true);

    const next = await lease(region);
    expect(hex(await tx((m) => markBlocksForDeletion(m, region, 0, 10, next.token)))).toEqual([hash.toString('hex')]);
    expect(next.signal.aborted).toBe(false);
  });

  it('lives on while its heartbeats run, and ends by its own clock after a stall, before any of its timers ran', async () => {
    const holder = await lease(await newRegion());
    await new Promise((r) => setTimeout(r, GC_LEASE.lastsMs + 2_000));
    expect(holder.ended).toBe(false);
    const [row] = await sql<{ live: boolean }>(`SELECT lease_until > now() AS live FROM gc_lease WHERE token = $1`, [holder.token]);
    expect(row.live).toBe(true);
    // the process stalls past the lease (a busy event loop here): resumed, it must not trust a timer that has not run
    const resumed = performance.now() + GC_LEASE.lastsMs;
    while (performance.now() < resumed) {
      // stalled
    }
    expect(holder.signal.aborted).toBe(false);
    expect(holder.ended).toBe(true);
    expect(holder.signal.aborted).toBe(true);
  }, 60_000);

  it('takes over the marks of a dead holder once its lease ended past the margin, and never before', async () => {
    const region = await newRegion();
    const hash = await unreferencedBlock(region, 'dead');
    const dead = await lease(region);
    const taker = await lease(region);
    await tx((m) => markBlocksForDeletion(m, region, 0, 10, dead.token));

    expect(await tx((m) => takeOverAbandonedMarks(m, region, 10, taker.token))).toEqual([]); // alive
    await killSession(dead);
    expect(await tx((m) => takeOverAbandonedMarks(m, region, 10, taker.token))).toEqual([]); // dead, lease not ended
    await endedAgo(dead, pastMargin - 2);
    expect(await hasAbandonedMarks(fixture.dataSource.manager, region)).toBe(false); // within the margin
    await endedAgo(dead, pastMargin);
    expect(await hasAbandonedMarks(fixture.dataSource.manager, region)).toBe(true);
    expect(hex(await tx((m) => takeOverAbandonedMarks(m, region, 10, taker.token)))).toEqual([hash.toString('hex')]);

    // the dead holder's token forgets nothing any more; the taker's does
    expect(await tx((m) => forgetDeletedBlocks(m, region, [hash], dead.token))).toBe(0);
    expect(await tx((m) => unmarkBlocks(m, region, [hash], dead.token))).toBe(0);
    expect(await tx((m) => forgetDeletedBlocks(m, region, [hash], taker.token))).toBe(1);
  });

  it('leaves a stalled holder its marks while its session lives, up to the stalled bound', async () => {
    const region = await newRegion();
    const hash = await unreferencedBlock(region, 'stalled');
    const stalled = await lease(region);
    const taker = await lease(region);
    await tx((m) => markBlocksForDeletion(m, region, 0, 10, stalled.token));
    await endedAgo(stalled, pastMargin + 60);
    expect(await hasAbandonedMarks(fixture.dataSource.manager, region)).toBe(false);
    expect(await tx((m) => takeOverAbandonedMarks(m, region, 10, taker.token))).toEqual([]);
    await endedAgo(stalled, GC_LEASE.stalledTakeoverMs / 1000 + 1);
    expect(hex(await tx((m) => takeOverAbandonedMarks(m, region, 10, taker.token)))).toEqual([hash.toString('hex')]);
  });

  it('takes over only under a live lease of its own', async () => {
    const region = await newRegion();
    await unreferencedBlock(region, 'own lease');
    const dead = await lease(region);
    const taker = await lease(region);
    await tx((m) => markBlocksForDeletion(m, region, 0, 10, dead.token));
    await killSession(dead);
    await endedAgo(dead, pastMargin);
    await endedAgo(taker, 1);
    expect(await tx((m) => takeOverAbandonedMarks(m, region, 10, taker.token))).toEqual([]);
  });

  it('takes over marks no lease holds (made before leases) only after the stalled bound', async () => {
    const region = await newRegion();
    const hash = hashOf('legacy');
    await sql(`INSERT INTO block (region, hash, size, state, deleting_since, deleting_by) VALUES ($1, $2, 1, 'deleting', now() - interval '29 minutes', $3)`, [
      region,
      hash,
      randomUUID(),
    ]);
    const taker = await lease(region);
    expect(await tx((m) => takeOverAbandonedMarks(m, region, 10, taker.token))).toEqual([]);
    await sql(`UPDATE block SET deleting_since = now() - interval '31 minutes' WHERE region = $1`, [region]);
    expect(hex(await tx((m) => takeOverAbandonedMarks(m, region, 10, taker.token)))).toEqual([hash.toString('hex')]);
  });

  it('on close, drops a lease holding nothing and ends at once one whose marks remain, for a takeover', async () => {
    const region = await newRegion();
    await unreferencedBlock(region, 'closed');
    const idle = await GcLease.open(fixture.dataSource, region);
    await idle.close();
    expect(await sql(`SELECT 1 FROM gc_lease WHERE token = $1`, [idle.token])).toEqual([]);

    const holder = await GcLease.open(fixture.dataSource, region);
    await tx((m) => markBlocksForDeletion(m, region, 0, 10, holder.token));
    await holder.close();
    expect(holder.signal.aborted).toBe(true);
    const [row] = await sql<{ ended: boolean }>(`SELECT lease_until <= now() AS ended FROM gc_lease WHERE token = $1`, [holder.token]);
    expect(row.ended).toBe(true);
    await endedAgo(holder, pastMargin); // the margin passed: its session is gone, so it is taken over
    const taker = await lease(region);
    expect(await tx((m) => takeOverAbandonedMarks(m, region, 10, taker.token))).toHaveLength(1);
  });

  it('forgets leases that ended past the margin once they hold no marks', async () => {
    const region = await newRegion();
    await unreferencedBlock(region, 'forget leases');
    const [holding, empty, live] = [await lease(region), await lease(region), await lease(region)];
    await tx((m) => markBlocksForDeletion(m, region, 0, 10, holding.token));
    await killSession(holding);
    await killSession(empty);
    await endedAgo(holding, pastMargin);
    await endedAgo(empty, pastMargin);
    await forgetEndedLeases(fixture.dataSource.manager);
    const left = (await sql<{ token: string }>(`SELECT token FROM gc_lease WHERE region = $1`, [region])).map((r) => r.token);
    expect(left.sort()).toEqual([holding.token, live.token].sort());
  });

  describe('a claim of a block GC is deleting', () => {
    it('waits for the outcome, holding no lock meanwhile, and uploads afresh once the block is forgotten or given back', async () => {
      const region = await newRegion();
      const [forgotten, givenBack] = [await unreferencedBlock(region, 'forgotten'), await unreferencedBlock(region, 'given back')];
      const gc = await lease(region);
      await tx((m) => markBlocksForDeletion(m, region, 0, 10, gc.token));
      const snapshotId = await fixture.uploadingSnapshot(region);
      let waits = 0;
      const claim = waitingForBlockDeletes(
        () =>
          tx((m) =>
            claimBlocks(m, snapshotId, region, [
              { hash: forgotten, size: 1 },
              { hash: givenBack, size: 1 },
            ]),
          ),
        () => waits++,
      );
      await new Promise((r) => setTimeout(r, 500));
      // GC's own statements on the marked rows would time out if the waiting claim held a lock on them
      await tx(async (m) => {
        await m.query(`SET LOCAL lock_timeout = '500ms'`);
        expect(await forgetDeletedBlocks(m, region, [forgotten], gc.token)).toBe(1);
        expect(await unmarkBlocks(m, region, [givenBack], gc.token)).toBe(1);
      });
      const result = await claim;
      expect(waits).toBe(1);
      expect(hex(result.upload.map((hash) => ({ hash }))).sort()).toEqual([forgotten, givenBack].map((h) => h.toString('hex')).sort());
      expect(result.present).toEqual([]);
    });

    it('gives up after its bound with BlocksBeingDeletedError, having claimed nothing', async () => {
      const region = await newRegion();
      const hash = await unreferencedBlock(region, 'bounded');
      const gc = await lease(region);
      await tx((m) => markBlocksForDeletion(m, region, 0, 10, gc.token));
      const snapshotId = await fixture.uploadingSnapshot(region);
      const claim = waitingForBlockDeletes(
        () => tx((m) => claimBlocks(m, snapshotId, region, [{ hash, size: 1 }])),
        () => undefined,
        700,
      );
      await expect(claim).rejects.toBeInstanceOf(BlocksBeingDeletedError);
      expect(await sql(`SELECT 1 FROM block_claim WHERE snapshot_id = $1`, [snapshotId])).toEqual([]);
    });
  });
});
