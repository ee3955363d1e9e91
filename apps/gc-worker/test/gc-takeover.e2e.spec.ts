import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import type { ProjectKeys } from '@island/blockstore';
import { GC_LEASE } from '@island/catalog';
import { guestIo, pollUntil, useIsland } from '@island/stack';

const MIB = 1 << 20;
const SIZE = 4 * MIB;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** How often a GC replica looks for marks to take over (abandoned-marks-sweep.ts), with room for a busy machine. */
const SWEEP_MS = 3_000 + 5_000;

/**
 * GC runs that stop between marking blocks and deleting them: killed, their marks are taken over within seconds by
 * another replica, and an upload needing one of those contents waits and succeeds; stalled (SIGSTOP) past their lease,
 * they delete nothing once resumed. Replica `gc` collects every second with no grace and pauses 10 s after marking
 * (where the tests stop it); replica `gc-2` only completes what stopped runs left.
 */
describe('GC runs that stop between marking and deleting', () => {
  const island = useIsland({
    gcWorkers: 2,
    processEnv: { gc: { ISLAND_GC_INTERVAL_SECONDS: '1', ISLAND_GC_GRACE_SECONDS: '0', ISLAND_INJECT_DELAYS_MS: 'gc.after-mark=10000-10000' } },
  });
  const io = guestIo(island);
  let db: Client;

  beforeAll(async () => {
    db = new Client({ connectionString: island.databaseUrl });
    db.on('error', () => undefined); // the stack drops its database when it stops
    await db.connect();
  });
  afterAll(async () => db?.end());

  /** Project alpha's keys (it has them from its first snapshot on): they name its blocks. */
  let keys: ProjectKeys | undefined;
  const nameOf = (content: Buffer) => {
    if (!keys) throw new Error("project alpha's keys are read after its first snapshot");
    return keys.blockName(content);
  };
  const objectOf = (content: Buffer) => `blocks/${nameOf(content).toString('hex')}`;
  const inSwift = async (content: Buffer) => (await island.swiftObjects(objectOf(content))).has(objectOf(content));
  /** DELETE requests the Swift proxy received for a block since the stack started. */
  const deletesOf = (content: Buffer) =>
    island.swiftProxyLog('RegionOne').filter((line) => line.includes(` DELETE `) && line.includes(objectOf(content))).length;

  /** The block's GC mark: its state and the lease holding it, with that lease's holder (host:pid). */
  async function markOf(content: Buffer): Promise<{ state: string; token: string | null; holder: string | null } | undefined> {
    const { rows } = await db.query(
      `SELECT b.state, b.deleting_by AS token, l.holder FROM block b LEFT JOIN gc_lease l ON l.token = b.deleting_by
        WHERE b.region = 'RegionOne' AND b.hash = $1`,
      [nameOf(content)],
    );
    return rows[0];
  }

  async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await probe();
      if (value) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(100);
    }
  }

  /** A content only a deleted volume's snapshot held: GC collects it. */
  async function orphanedContent(): Promise<Buffer> {
    const content = randomBytes(MIB);
    const volumeId = await io.createVolume(SIZE);
    await io.write(await io.attach(volumeId), 0, content);
    await io.snapshot(volumeId);
    keys ??= await island.projectKeys('alpha');
    await io.deleteVolume(volumeId, true);
    return content;
  }

  /** Starts a snapshot of a new volume holding `content` (and another block); returns its id and the volume's bytes. */
  async function snapshotOf(content: Buffer): Promise<{ id: string; model: Buffer }> {
    const volumeId = await io.createVolume(SIZE);
    const path = await io.attach(volumeId);
    const model = Buffer.alloc(SIZE);
    await io.write(path, 0, content, model);
    await io.write(path, 2 * MIB, randomBytes(MIB), model);
    const res = await island.request('POST', '/v1/snapshots', { volumeId });
    if (res.status !== 202) throw new Error(`snapshot: ${res.status} ${JSON.stringify(res.body)}`);
    return { id: String(res.body.id), model };
  }

  async function expectRestores(snapshot: { id: string; model: Buffer }): Promise<void> {
    await pollUntil(island, `/v1/snapshots/${snapshot.id}`, (s) => s.status === 'available', { timeoutMs: 150_000 });
    const clone = await io.createVolume(SIZE, { snapshotId: snapshot.id });
    expect((await io.read(await io.attach(clone))).equals(snapshot.model)).toBe(true);
    await io.deleteVolume(clone);
  }

  async function metric(port: number, name: string): Promise<number> {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    return Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)`, 'm').exec(text)?.[1] ?? 0);
  }

  it('takes over the marks of a run killed between marking and deleting within seconds; an upload of that content waits and succeeds', async () => {
    const content = await orphanedContent();
    const mark = await until('gc to mark the block', async () => {
      const found = await markOf(content);
      return found?.state === 'deleting' && found.holder?.endsWith(`:${island.pid('gc')}`) && found;
    });
    island.kill('gc');
    const killedAt = Date.now();
    // the kill landed between marking and deleting: the dead run's mark holds, the object is still in Swift
    expect(await markOf(content)).toEqual(mark);
    expect(await inSwift(content)).toBe(true);

    const snapshot = await snapshotOf(content);
    await until('gc-2 to take the marks over', async () => (await markOf(content))?.token !== mark.token, 45_000);
    const takeover = Date.now() - killedAt;
    // not before the margin past the dead run's lease, and a sweep after that
    expect(takeover).toBeGreaterThan(GC_LEASE.takeoverMarginMs);
    expect(takeover).toBeLessThan(GC_LEASE.lastsMs + GC_LEASE.takeoverMarginMs + SWEEP_MS);
    expect(await metric(island.ports.gcReplicas[1], 'island_gc_blocks_taken_over_total')).toBeGreaterThanOrEqual(1);

    await expectRestores(snapshot);
    expect(await inSwift(content)).toBe(true);
    // the upload waited for the outcome instead of failing and being retried
    const waits = await Promise.all(island.ports.workers.map((port) => metric(port, 'island_worker_claim_waits_total')));
    expect(waits.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(1);
    expect(island.logs()).not.toMatch(/being deleted by GC/);
    process.stdout.write(`takeover ${(takeover / 1000).toFixed(1)} s after the kill\n`);
  }, 240_000);

  it('lets a run stalled past its lease delete nothing after its marks were taken over', async () => {
    await island.revive('gc');
    const content = await orphanedContent();
    const pid = island.pid('gc');
    const mark = await until('gc to mark the block', async () => {
      const found = await markOf(content);
      return found?.state === 'deleting' && found.holder?.endsWith(`:${pid}`) && found;
    });
    process.kill(pid, 'SIGSTOP');
    let deletes: number;
    try {
      expect(await markOf(content)).toEqual(mark);
      expect(await inSwift(content)).toBe(true);
      const snapshot = await snapshotOf(content);

      // stalled past its lease and the takeover margin, its catalog session still open: nobody takes its marks
      await sleep(GC_LEASE.lastsMs + GC_LEASE.takeoverMarginMs + SWEEP_MS);
      expect(await markOf(content)).toEqual(mark);
      // its session is cut, as a network partition or a catalog restart would: now it counts as dead
      await db.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, [`island-gc-lease ${mark.token}`]);
      await until('gc-2 to take the marks over', async () => (await markOf(content))?.token !== mark.token, 20_000);
      await expectRestores(snapshot); // uploaded again after the takeover
      expect(await inSwift(content)).toBe(true);
      deletes = deletesOf(content);
      expect(deletes).toBeGreaterThanOrEqual(1);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    // resumed, the run finds its lease over and sends nothing
    await until('the resumed run to give up its batch', async () => island.logs().includes('lease ended during a batch'), 30_000);
    await sleep(2_000);
    expect(deletesOf(content)).toBe(deletes);
    expect(await inSwift(content)).toBe(true);
    expect(island.adminJson('fsck', '--deep')).toMatchObject({ ok: true, problems: [] });
  }, 300_000);
});
