import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { BlockFaultPlan } from '@island/blockstore';
import { acquireWriterLock } from '@island/qcow2';
import { guestIo, localSwift, useIsland } from '@island/stack';

const MIB = 1 << 20;
const run = promisify(execFile);
type Json = Record<string, unknown>;

/** The faults the stack's block reads suffer (ISLAND_INJECT_BLOCK_FAULTS): rewritten by each test, emptied after it. */
const faultsFile = join(mkdtempSync(join(tmpdir(), 'island-block-faults-')), 'faults.json');
writeFileSync(faultsFile, '{}');
const inject = (plan: BlockFaultPlan) => writeFileSync(faultsFile, JSON.stringify(plan));

/**
 * Restores that heal, on the real services: a block body damaged in transit is fetched again; one stored damaged fails
 * the restore, naming the block, and the attach ends; a restore interrupted by a transient error, or by its worker being
 * killed, resumes from the blocks its partial image holds. Block GETs are counted in the Swift proxy's own log, and the
 * restored bytes read with qemu-img.
 */
describe('a restore that heals', () => {
  const island = useIsland({ workers: 1, env: { ISLAND_INJECT_BLOCK_FAULTS: faultsFile } });
  const io = guestIo(island);
  afterEach(() => inject({}));

  /** A snapshot of a volume of `blocks` distinct random 1 MiB blocks: its id, the bytes, and block k's name at k. */
  async function snapshotOf(blocks: number): Promise<{ snapshotId: string; model: Buffer; hashes: string[] }> {
    const volumeId = await io.createVolume(blocks * MIB);
    const model = Buffer.alloc(blocks * MIB);
    await io.write(await io.attach(volumeId), 0, randomBytes(blocks * MIB), model);
    const snapshot = await io.snapshot(volumeId);
    const keys = await island.projectKeys('alpha');
    const hashes = Array.from({ length: blocks }, (_, k) => keys.blockName(model.subarray(k * MIB, (k + 1) * MIB)).toString('hex'));
    return { snapshotId: String(snapshot.id), model, hashes };
  }

  /** Successful block GETs the Swift proxy logged from line `since` on, by block hash. */
  function blockGets(since: number): Map<string, number> {
    const pattern = new RegExp(` GET /v1/AUTH_test/${island.container}/blocks/([0-9a-f]{64}) HTTP/1.0 200 `);
    const gets = new Map<string, number>();
    for (const line of island.swiftProxyLog('RegionOne').slice(since)) {
      const hash = pattern.exec(line)?.[1];
      if (hash) gets.set(hash, (gets.get(hash) ?? 0) + 1);
    }
    return gets;
  }
  const logLine = () => island.swiftProxyLog('RegionOne').length - 1; // the last line is the unfinished one
  const proxyCaughtUp = () => new Promise((r) => setTimeout(r, 1_000)); // the proxy logs a GET after its reply

  async function workerMetric(name: string, labels: string): Promise<number> {
    const text = await (await fetch(`http://127.0.0.1:${island.ports.workers[0]}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
    return line ? Number(line.split(' ')[1]) : 0;
  }

  function restoreFiles(volumeId: string) {
    const image = join(island.dataDir, 'volumes', `${volumeId}.qcow2`);
    return { image, partial: `${image}.restoring`, record: `${image}.restoring.progress` };
  }

  async function restoreInto(snapshotId: string, blocks: number): Promise<string> {
    return io.createVolume(blocks * MIB, { snapshotId });
  }

  it('resumes a restore failed mid-way by a transient error, fetching no block it had written again, bit-exact', async () => {
    const { snapshotId, model, hashes } = await snapshotOf(48);
    const since = logLine();
    inject({ unavailableAfterReads: 20 });
    const clone = await restoreInto(snapshotId, 48);
    const path = await io.attach(clone); // the first attempt fails after 20 blocks; the retry, a second later, finishes
    await proxyCaughtUp();

    const gets = blockGets(since);
    expect(hashes.map((h) => gets.get(h))).toEqual(hashes.map(() => 1));
    const resumed = await workerMetric('island_worker_restore_blocks_total', 'how="resumed"');
    expect(resumed).toBeGreaterThanOrEqual(20); // every block fetched before the failure, written and recorded
    expect(resumed).toBeLessThan(48);
    expect(await workerMetric('island_worker_restore_blocks_total', 'how="fetched"')).toBe(48);
    expect((await io.read(path)).equals(model)).toBe(true);
    expect(existsSync(restoreFiles(clone).record)).toBe(false);
  }, 180_000);

  it('resumes a restore whose worker was killed mid-way from the blocks it recorded, bit-exact', async () => {
    const blocks = 64;
    const { snapshotId, model, hashes } = await snapshotOf(blocks);
    inject({ readDelayMs: 400 }); // a slow Swift: about 20 blocks a second, a progress record each second
    const clone = await restoreInto(snapshotId, blocks);
    expect((await island.request('POST', `/v1/volumes/${clone}/attach`, { host: island.host })).status).toBe(202);
    const files = restoreFiles(clone);
    const recorded = () => (existsSync(files.record) ? (JSON.parse(readFileSync(files.record, 'utf8')) as { written: [number, number][] }).written : []);
    const count = (ranges: [number, number][]) => ranges.reduce((n, [start, end]) => n + end - start, 0);
    for (let i = 0; i < 3000 && count(recorded()) === 0; i++) await new Promise((r) => setTimeout(r, 10));
    island.kill('worker-1');
    await untilDead(island.ports.workers[0]);

    const written = recorded();
    expect(count(written)).toBeGreaterThan(0);
    expect(count(written)).toBeLessThan(blocks);
    expect(existsSync(files.partial)).toBe(true);
    expect(existsSync(files.image)).toBe(false);
    await proxyCaughtUp();
    const since = logLine();
    inject({});
    await island.revive('worker-1');
    const volume = await io.until<Json>(`/v1/volumes/${clone}`, (v) => v.status === 'in-use', 'attach after the worker was killed');

    await proxyCaughtUp();
    const inRecord = (k: number) => written.some(([start, end]) => k >= start && k < end);
    const fetchedAgain = [...blockGets(since).keys()].filter((h) => hashes.includes(h));
    expect(fetchedAgain.sort()).toEqual(hashes.filter((_, k) => !inRecord(k)).sort());
    expect(await workerMetric('island_worker_restore_blocks_total', 'how="resumed"')).toBe(count(written));
    const path = (volume.connection as { path: string }).path;
    expect((await io.read(path)).equals(model)).toBe(true);
    const lock = await acquireWriterLock(path);
    try {
      await run('qemu-img', ['check', '-q', '-f', 'qcow2', path]); // no leaks or errors left by the crash
    } finally {
      await lock.release();
    }
  }, 180_000);

  it('fetches again a block whose body arrives damaged or cut short, and restores bit-exact', async () => {
    const { snapshotId, model, hashes } = await snapshotOf(8);
    const since = logLine();
    inject({ corrupt: { [hashes[2]]: 1 }, truncate: { [hashes[5]]: 1 } });
    const path = await io.attach(await restoreInto(snapshotId, 8));
    await proxyCaughtUp();

    const gets = blockGets(since);
    expect(hashes.map((h) => gets.get(h))).toEqual([1, 1, 2, 1, 1, 2, 1, 1]);
    expect(await workerMetric('island_block_refetches_total', 'region="RegionOne",reason="corrupt"')).toBe(1);
    expect(await workerMetric('island_block_refetches_total', 'region="RegionOne",reason="truncated"')).toBe(1);
    expect((await io.read(path)).equals(model)).toBe(true);
  }, 180_000);

  it('fails a restore whose block is stored damaged after three GETs, naming the block, and ends the attach', async () => {
    const { snapshotId, hashes } = await snapshotOf(8);
    const damaged = hashes[3];
    const swift = localSwift('RegionOne');
    try {
      const object = await swift.getObject(island.container, `blocks/${damaged}`);
      object[object.length - 1] ^= 0xff;
      await swift.putObject(island.container, `blocks/${damaged}`, object);
    } finally {
      await swift.close();
    }
    const since = logLine();
    const clone = await restoreInto(snapshotId, 8);
    expect((await island.request('POST', `/v1/volumes/${clone}/attach`, { host: island.host })).status).toBe(202);
    const volume = await io.until<Json>(`/v1/volumes/${clone}`, (v) => v.status !== 'attaching', 'the failed attach');
    await proxyCaughtUp();

    expect(volume).toMatchObject({ status: 'available', host: null });
    expect(volume.statusReason).toEqual(expect.stringContaining(`block ${damaged} (region RegionOne, `));
    expect(volume.statusReason).toEqual(
      expect.stringContaining('does not authenticate: altered, cut short, stored under another name, or sealed with another key (on each of 3 GETs)'),
    );
    expect(blockGets(since).get(damaged)).toBe(3);
    expect(readdirSync(join(island.dataDir, 'volumes')).filter((f) => f.startsWith(clone))).toEqual([]);
  }, 180_000);
});

/** Waits until the process listening on `port` no longer answers (a SIGKILL is delivered asynchronously). */
async function untilDead(port: number): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (
      !(await fetch(`http://127.0.0.1:${port}/healthz`).then(
        () => true,
        () => false,
      ))
    )
      return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`the process on port ${port} is still answering`);
}
