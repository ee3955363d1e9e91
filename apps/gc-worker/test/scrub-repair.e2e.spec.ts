import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { guestIo, localSwift, useIsland } from '@island/stack';

const MIB = 1 << 20;
const SIZE = 8 * MIB;
/** The scheduled scrub's pace in this stack: slow enough to measure, fast enough for small volumes. */
const SCRUB_MIB_PER_S = 4;
type Json = Record<string, unknown>;

/**
 * The GC worker's scheduled scrub (every second here, at 4 MiB/s) on two regions with their own Swift: a block
 * object corrupted in RegionOne is repaired from RegionTwo's copy; blocks lost with no copy elsewhere mark exactly
 * the snapshots that need them as damaged (API, CLI, dashboards) until a snapshot of the same bytes writes them
 * again; a pass interrupted by a crash continues from its checkpoint; reads keep to the configured rate.
 */
describe('scheduled scrubs that repair', () => {
  const island = useIsland(
    {
      twoRegions: true,
      processEnv: { gc: { ISLAND_SCRUB_INTERVAL_HOURS: String(1 / 3600), ISLAND_SCRUB_MIB_PER_S: String(SCRUB_MIB_PER_S) } },
    },
    300_000,
  );
  const io = guestIo(island);
  let db: Client;

  beforeAll(async () => {
    db = new Client({ connectionString: island.databaseUrl });
    db.on('error', () => undefined); // the stack drops its database when it stops
    await db.connect();
  });
  afterAll(() => db?.end());

  const hashOf = async (block: Buffer) => (await island.projectKeys('alpha')).blockName(block).toString('hex');
  const snapshotsShown = () => island.json<{ snapshots: Json[] }>('snapshot', 'list').snapshots;
  const damagedIds = () =>
    snapshotsShown()
      .filter((s) => s.damaged === true)
      .map((s) => String(s.id))
      .sort();
  const gcMetrics = async () => (await fetch(`http://127.0.0.1:${island.ports.gc}/metrics`)).text();

  async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 240_000): Promise<T> {
    const started = Date.now();
    for (;;) {
      const value = await probe();
      if (value !== undefined) return value;
      if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** A volume of SIZE with `blocks` written at their block indexes, snapshotted after each step; each snapshot's content. */
  async function volumeWith(steps: [number, Buffer][][]) {
    const volumeId = await io.createVolume(SIZE);
    const path = await io.attach(volumeId);
    const model = Buffer.alloc(SIZE);
    const taken: { id: string; content: Buffer }[] = [];
    for (const writes of steps) {
      for (const [index, data] of writes) await io.write(path, index * MIB, data, model);
      taken.push({ id: String((await io.snapshot(volumeId)).id), content: Buffer.from(model) });
    }
    return { volumeId, taken };
  }

  async function expectRestoresBitExact(snapshotId: string, content: Buffer) {
    const volumeId = await io.createVolume(content.length, { snapshotId });
    const path = await io.attach(volumeId);
    expect((await io.read(path)).equals(content)).toBe(true);
    await io.deleteVolume(volumeId);
  }

  async function flipLastByte(name: string) {
    const swift = localSwift('RegionOne');
    try {
      const object = await swift.getObject(island.container, name);
      const damaged = Buffer.from(object);
      damaged[damaged.length - 1] ^= 0xff;
      await swift.putObject(island.container, name, damaged);
      return object;
    } finally {
      await swift.close();
    }
  }

  it('repairs a block object corrupted in RegionOne from its copy in RegionTwo, and the snapshot restores bit-exact', async () => {
    const victim = randomBytes(MIB);
    const { taken } = await volumeWith([
      [
        [0, victim],
        [1, randomBytes(MIB)],
        [5, randomBytes(MIB)],
      ],
    ]);
    island.json('snapshot', 'copy', taken[0].id, '--to-region', 'RegionTwo', '--wait');
    const name = `blocks/${await hashOf(victim)}`;
    expect((await island.swiftObjects('blocks/', 'RegionTwo')).has(name)).toBe(true);

    const original = await flipLastByte(name);
    const swift = localSwift('RegionOne');
    try {
      await until('the scrub to put the block back', async () => ((await swift.getObject(island.container, name)).equals(original) ? true : undefined));
    } finally {
      await swift.close();
    }
    // the worker logs the repair after its PUT: the line may reach the test a moment after the object does
    const repairLine = `${name.slice(7)} was corrupt; repaired from RegionTwo`;
    await until('the scrub to log the repair', async () => (island.logs().includes(repairLine) ? true : undefined));
    const scrubLog = island
      .logs()
      .split('\n')
      .filter((line) => line.includes('scrub'));
    expect(scrubLog.filter((line) => line.includes(repairLine))).toHaveLength(1);
    expect(await gcMetrics()).toMatch(/island_scrub_blocks_repaired_total\{region="RegionOne",from="RegionTwo"\} 1\b/);
    expect(island.json('snapshot', 'show', taken[0].id)).toMatchObject({ damaged: false, damagedReason: null });
    await expectRestoresBitExact(taken[0].id, taken[0].content);
  }, 600_000);

  it('puts back a block lost in every region from the volume whose point in time still holds it, and the snapshot restores bit-exact', async () => {
    const kept = randomBytes(MIB);
    const { volumeId, taken } = await volumeWith([
      [
        [4, kept],
        [6, randomBytes(MIB)],
      ],
    ]);
    const name = `blocks/${await hashOf(kept)}`;
    expect((await island.swiftObjects('blocks/', 'RegionTwo')).has(name)).toBe(false);
    const damaged = Buffer.from(await flipLastByte(name));
    damaged[damaged.length - 1] ^= 0xff;

    const repairLine = `${name.slice(7)} was corrupt; repaired from volume ${volumeId} on `;
    await until('the scrub to put the block back from the volume', async () => (island.logs().includes(repairLine) ? true : undefined));
    const swift = localSwift('RegionOne');
    try {
      // sealed again from the volume's bytes (a new nonce): another object than the damaged one
      expect((await swift.getObject(island.container, name)).equals(damaged)).toBe(false);
    } finally {
      await swift.close();
    }
    expect(await gcMetrics()).toMatch(/island_scrub_blocks_repaired_total\{region="RegionOne",from="volume"\} 1\b/);
    expect(island.json('snapshot', 'show', taken[0].id)).toMatchObject({ damaged: false, damagedReason: null });
    await expectRestoresBitExact(taken[0].id, taken[0].content);
  }, 600_000);

  it('marks exactly the snapshots that need a block lost with no copy elsewhere (corrupt or deleted) as damaged, until the same bytes are uploaded again', async () => {
    const [x, y, z] = [randomBytes(MIB), randomBytes(MIB), randomBytes(MIB)];
    // a1 needs x and y; a2 overwrote x (needs y only); b1 needs z; c1 shares nothing
    const a = await volumeWith([
      [
        [0, x],
        [1, y],
      ],
      [[0, randomBytes(MIB)]],
    ]);
    // b2 overwrote z: no volume holds it any more (a head version would be put back from the volume)
    const b = await volumeWith([[[2, z]], [[2, randomBytes(MIB)]]]);
    const c = await volumeWith([[[0, randomBytes(MIB)]]]);
    const [a1, a2] = a.taken.map((t) => t.id);
    const b1 = b.taken[0].id;
    const [xName, zName] = [`blocks/${await hashOf(x)}`, `blocks/${await hashOf(z)}`];

    await flipLastByte(xName);
    const swift = localSwift('RegionOne');
    try {
      await swift.deleteObject(island.container, zName);
    } finally {
      await swift.close();
    }
    await until('a1 and b1 marked damaged', () => (damagedIds().length === 2 ? true : undefined));
    expect(damagedIds()).toEqual([a1, b1].sort());
    expect(
      snapshotsShown()
        .filter((s) => [a2, c.taken[0].id].includes(String(s.id)))
        .map((s) => s.damaged),
    ).toEqual([false, false]);

    const shownA1 = island.json('snapshot', 'show', a1);
    expect(shownA1.damagedReason).toMatch(new RegExp(`block ${xName.slice(7)} corrupt in RegionOne .*no whole copy elsewhere \\(RegionTwo: absent\\)`));
    expect(String(island.json('snapshot', 'show', b1).damagedReason)).toMatch(new RegExp(`block ${zName.slice(7)} missing in RegionOne`));
    expect(island.cli('snapshot', 'show', a1).stdout).toContain(`DAMAGED: block ${xName.slice(7)} corrupt`);
    const listed = island.cli('snapshot', 'list').stdout.split('\n');
    expect(
      listed
        .filter((line) => line.includes('DAMAGED'))
        .map((line) => line.split(/\s+/)[0])
        .sort(),
    ).toEqual([a1, b1].sort());
    const views = await db.query(`SELECT snapshot_id FROM island_damaged_snapshots ORDER BY snapshot_id`);
    expect(views.rows.map((r: { snapshot_id: string }) => r.snapshot_id)).toEqual([a1, b1].sort());
    const scrub = await db.query(`SELECT damaged_blocks, damaged_snapshots FROM island_scrub WHERE region = 'RegionOne'`);
    expect(scrub.rows[0]).toMatchObject({ damaged_blocks: '2', damaged_snapshots: '2' });
    expect(await gcMetrics()).toMatch(/island_scrub_blocks_damaged_total\{region="RegionOne"\} 2\b/);
    // the corrupt object is gone, so that the write-once PUT of an upload of the same bytes can store it
    expect((await island.swiftObjects('blocks/')).has(xName)).toBe(false);
    const fsck = island.adminCli('fsck', '--json');
    expect(fsck.code).toBe(1);
    expect((JSON.parse(fsck.stdout) as { problems: Json[] }).problems).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: 'block-damaged', hash: xName.slice(7) }),
        expect.objectContaining({ kind: 'block-damaged', hash: zName.slice(7) }),
      ]),
    );

    // a new snapshot holding x uploads it again; the next scrub finds it whole and clears a1 (b1 stays damaged)
    const again = await volumeWith([[[3, x]]]);
    expect((await island.swiftObjects('blocks/')).has(xName)).toBe(true);
    await until('a1 cleared', () => (damagedIds().join() === b1 ? true : undefined));
    expect(island.json('snapshot', 'show', again.taken[0].id)).toMatchObject({ damaged: false });
    await expectRestoresBitExact(a1, a.taken[0].content);
  }, 600_000);

  it('continues a pass interrupted by a crash from its checkpoint, and reads at the configured rate', async () => {
    await volumeWith(Array.from({ length: 5 }, () => [[0, randomBytes(SIZE)] as [number, Buffer]]));
    const written = new Date();
    const state = async () =>
      (
        await db.query<{ cursor: Buffer | null; started: Date | null; blocks: string; last: Json | null }>(
          `SELECT cursor, pass_started_at AS started, pass_blocks AS blocks, last_pass AS last FROM scrub_state WHERE region = 'RegionOne'`,
        )
      ).rows[0];
    const present = Number((await db.query(`SELECT count(*) FROM block WHERE region = 'RegionOne' AND state = 'present'`)).rows[0].count);
    expect(present).toBeGreaterThan(40);
    // caught between two checkpoints of a pass that began after those writes
    const before = await until('a pass past its first checkpoint', async () => {
      const s = await state();
      return s?.cursor && s.started && s.started > written ? s : undefined;
    });
    await island.crash('gc');
    await island.revive('gc');
    const finished = await until('the interrupted pass to finish', async () => {
      const s = await state();
      return s?.last && new Date(String(s.last.startedAt)).getTime() === before.started!.getTime() ? s.last : undefined;
    });
    // every present block once (and the damaged one), plus at most the page being read when it crashed (read
    // again: 20 blocks at 4 MiB/s), not all from zero
    expect(Number(finished.blocks)).toBeGreaterThanOrEqual(present);
    expect(Number(finished.blocks)).toBeLessThanOrEqual(present + 1 + 20);

    // a whole pass of its own: bytes over its time, at or under the rate (coarsely)
    const next = await until('a whole pass after the restart', async () => {
      const s = await state();
      return s?.last && new Date(String(s.last.startedAt)).getTime() > new Date(String(finished.finishedAt)).getTime() ? s.last : undefined;
    });
    const seconds = (new Date(String(next.finishedAt)).getTime() - new Date(String(next.startedAt)).getTime()) / 1000;
    const mibPerSecond = Number(next.bytes) / MIB / seconds;
    expect(Number(next.bytes)).toBeGreaterThan(30 * MIB);
    expect(mibPerSecond).toBeLessThan(SCRUB_MIB_PER_S * 1.2);

    // a deep fsck keeps to the rate it is given
    const fsck = JSON.parse(island.adminCli('fsck', '--deep', '--rate', '8', '--json').stdout) as Json;
    const checked = fsck.checked as { bytes: number; bytesPerSecondLimit: number; readSeconds: number };
    expect(checked.bytesPerSecondLimit).toBe(8 * MIB);
    expect(checked.bytes / MIB / checked.readSeconds).toBeLessThan(8 * 1.2);
    expect(island.adminCli('fsck', '--rate', 'fast').stderr).toMatch(/a number of MiB per second/);
  }, 600_000);
});
