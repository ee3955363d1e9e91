import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { guestIo, useIsland } from '@island/stack';

const MIB = 1 << 20;
const BLOCKS = 16;
const SIZE = BLOCKS * MIB;
type Json = Record<string, unknown>;

/** The indexes of the 1 MiB blocks whose bytes differ between two images of the volume. */
function differingBlocks(a: Buffer, b: Buffer): number[] {
  const out: number[] = [];
  for (let i = 0; i < BLOCKS; i++) if (!a.subarray(i * MIB, (i + 1) * MIB).equals(b.subarray(i * MIB, (i + 1) * MIB))) out.push(i);
  return out;
}

/** `qemu-img compare` of block i of two raw files (the raw driver's offset/size window): does it find a difference? */
function qemuFindsDifference(a: string, b: string, index: number): boolean {
  const window = (file: string) => `driver=raw,offset=${index * MIB},size=${MIB},file.driver=file,file.filename=${file}`;
  const r = spawnSync('qemu-img', ['compare', '--image-opts', window(a), window(b)], { encoding: 'utf8' });
  if (r.status !== 0 && r.status !== 1) throw new Error(`qemu-img compare failed: ${r.stderr}`);
  return r.status === 1;
}

/**
 * Snapshot data for backup tools on the real services: changed blocks between two snapshots from the catalog, a
 * block's bytes read by a worker, and the CLI's diff and export built on them.
 */
describe('changed blocks, block reads and exports of snapshots', () => {
  const island = useIsland({}, 240_000);
  const dir = mkdtempSync(join(tmpdir(), 'island-snapshot-data-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const snapshots: Json[] = [];
  const models: Buffer[] = [];
  let volumeId = '';

  beforeAll(async () => {
    const io = guestIo(island);
    volumeId = await io.createVolume(SIZE);
    const path = await io.attach(volumeId);
    const model = Buffer.alloc(SIZE);
    const same = randomBytes(MIB);
    const before = randomBytes(MIB);
    // 1: blocks 0–9 written (2 and 3 with the same content), 10–15 holes
    for (let i = 0; i < 10; i++) await io.write(path, i * MIB, i === 2 || i === 3 ? same : randomBytes(MIB), model);
    await io.write(path, 7 * MIB, before, model);
    // 2: block 1 rewritten, block 4 zeroed (a hole again), block 11 written
    const steps: ((p: string) => Promise<void>)[] = [
      async (p) => {
        await io.write(p, 1 * MIB, randomBytes(MIB), model);
        await io.write(p, 4 * MIB, Buffer.alloc(MIB), model);
        await io.write(p, 11 * MIB, randomBytes(MIB), model);
      },
      // 3: block 2 rewritten with the bytes it had (same name: not changed), block 7 changed (changed back at 5)
      async (p) => {
        await io.write(p, 2 * MIB, same, model);
        await io.write(p, 7 * MIB, randomBytes(MIB), model);
      },
      // 4: block 11 changed again, 4 KiB of block 12 written (a partial block), block 5 rewritten
      async (p) => {
        await io.write(p, 11 * MIB, randomBytes(MIB), model);
        await io.write(p, 12 * MIB + 4096, randomBytes(4096), model);
        await io.write(p, 5 * MIB, randomBytes(MIB), model);
      },
      // 5: block 7 back to its content at 1, block 9 zeroed
      async (p) => {
        await io.write(p, 7 * MIB, before, model);
        await io.write(p, 9 * MIB, Buffer.alloc(MIB), model);
      },
    ];
    snapshots.push(await io.snapshot(volumeId, 's1'));
    models.push(Buffer.from(model));
    for (const [k, step] of steps.entries()) {
      await step(path);
      snapshots.push(await io.snapshot(volumeId, `s${k + 2}`));
      models.push(Buffer.from(model));
    }
  }, 240_000);

  const changed = async (id: unknown, query: string, token?: string) =>
    island.request<Json>('GET', `/v1/snapshots/${id}/changed-blocks${query}`, undefined, token);
  /**
   * `island … --json`, then a turn of the event loop: the CLI runs synchronously, so a keep-alive connection the API
   * closed meanwhile (idle 65 s) is noticed before the next request would reuse it.
   */
  const cliJson = async <T = Json>(...args: string[]): Promise<T> => {
    const result = island.json<T>(...args);
    await new Promise((r) => setTimeout(r, 20));
    return result;
  };

  it('lists the blocks changed between snapshots 1 and 5 as the model predicts, page by page, with the sizes to map them to bytes', async () => {
    const expected = differingBlocks(models[0], models[4]);
    expect(expected).toEqual([1, 4, 5, 9, 11, 12]); // 2 (same bytes) and 7 (changed back) are not changed
    const seen: number[] = [];
    let marker = '';
    for (let page = 0; page < 10; page++) {
      const r = await changed(snapshots[4].id, `?base=${snapshots[0].id}&limit=4${marker}`);
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ snapshotId: snapshots[4].id, baseSnapshotId: snapshots[0].id, sizeBytes: SIZE, blockSize: MIB });
      seen.push(...(r.body.blocks as number[]));
      if (r.body.nextMarker === null) break;
      marker = `&marker=${r.body.nextMarker}`;
    }
    expect(seen).toEqual(expected);
    // every consecutive pair, and from an empty volume (every block that is not a hole)
    for (let k = 1; k < 5; k++) {
      const r = await changed(snapshots[k].id, `?base=${snapshots[k - 1].id}`);
      expect(r.body.blocks).toEqual(differingBlocks(models[k - 1], models[k]));
    }
    const full = await changed(snapshots[4].id, '');
    expect(full.body.blocks).toEqual(differingBlocks(Buffer.alloc(SIZE), models[4]));
    expect(full.body.baseSnapshotId).toBeNull();
    // the CLI's diff gives the same indexes and their byte ranges
    const diff = await cliJson<{ blocks: number[]; ranges: { offset: number; length: number }[] }>(
      'snapshot',
      'diff',
      String(snapshots[0].id),
      String(snapshots[4].id),
    );
    expect(diff.blocks).toEqual(expected);
    expect(diff.ranges).toEqual([
      { offset: 1 * MIB, length: MIB },
      { offset: 4 * MIB, length: 2 * MIB },
      { offset: 9 * MIB, length: MIB },
      { offset: 11 * MIB, length: 2 * MIB },
    ]);
  });

  it('exports snapshots bit-exact; the blocks qemu-img compare finds different between exports 1 and 5 are the changed blocks', async () => {
    const one = join(dir, 's1.raw');
    const five = join(dir, 's5.raw');
    expect(await cliJson('snapshot', 'export', String(snapshots[0].id), one)).toMatchObject({ blocksWritten: 10, sizeBytes: SIZE });
    await cliJson('snapshot', 'export', String(snapshots[4].id), five);
    expect(readFileSync(one).equals(models[0])).toBe(true);
    expect(readFileSync(five).equals(models[4])).toBe(true);
    const byQemu = Array.from({ length: BLOCKS }, (_, i) => i).filter((i) => qemuFindsDifference(one, five, i));
    const listed = (await changed(snapshots[4].id, `?base=${snapshots[0].id}`)).body.blocks;
    expect(byQemu).toEqual(listed);

    // snapshot 5 exported onto a copy of snapshot 1's export writes only the changed blocks and gives 5 bit-exact
    const onto = join(dir, 's1-then-5.raw');
    copyFileSync(one, onto);
    const report = await cliJson<Json>('snapshot', 'export', String(snapshots[4].id), onto, '--base', String(snapshots[0].id));
    expect(report).toMatchObject({ blocksWritten: 6, bytesWritten: 6 * MIB });
    expect(readFileSync(onto).equals(models[4])).toBe(true);
    expect(spawnSync('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', onto, five]).status).toBe(0);

    // as qcow2: a whole export, then 3 → 5 onto an export of 3, equal to the raw export for qemu-img
    const q3 = join(dir, 's3.qcow2');
    await cliJson('snapshot', 'export', String(snapshots[2].id), q3, '--format', 'qcow2');
    const m3 = join(dir, 's3-model.raw');
    writeFileSync(m3, models[2]);
    expect(spawnSync('qemu-img', ['compare', '-f', 'qcow2', '-F', 'raw', q3, m3]).status).toBe(0);
    await cliJson('snapshot', 'export', String(snapshots[4].id), q3, '--format', 'qcow2', '--base', String(snapshots[2].id));
    expect(spawnSync('qemu-img', ['compare', '-f', 'qcow2', '-F', 'raw', q3, five]).status).toBe(0);
    execFileSync('qemu-img', ['check', '-f', 'qcow2', q3]);
  }, 120_000);

  it("answers a block's bytes with their SHA-256, and a hole as zeros without asking Swift", async () => {
    // this stack's container only: suites running beside it share the proxy (and its log)
    const blockGet = new RegExp(` GET /v1/AUTH_test/${island.container}/blocks/[0-9a-f]{64} `);
    const gets = () => island.swiftProxyLog('RegionOne').filter((l) => blockGet.test(l)).length;
    const block = await fetch(`${island.api}/v1/snapshots/${snapshots[3].id}/blocks/12`, { headers: { authorization: `Bearer ${island.token}` } });
    expect(block.status).toBe(200);
    const bytes = Buffer.from(await block.arrayBuffer());
    expect(bytes.equals(models[3].subarray(12 * MIB, 13 * MIB))).toBe(true);
    expect(block.headers.get('x-checksum-sha256')).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(block.headers.get('x-island-hole')).toBe('false');
    expect(block.headers.get('etag')).toBe(`"${block.headers.get('x-checksum-sha256')}"`);

    // the proxy logs after it answers, and a block read an earlier export gave up on may still reach Swift late:
    // counted once no GET has come for a second
    let before = gets();
    for (let previous = -1; before !== previous; before = gets()) {
      previous = before;
      await new Promise((r) => setTimeout(r, 1000));
    }
    expect(before).toBeGreaterThan(0); // the count sees this stack's GETs (the block above was one)
    const hole = await fetch(`${island.api}/v1/snapshots/${snapshots[3].id}/blocks/4`, { headers: { authorization: `Bearer ${island.token}` } });
    expect(hole.status).toBe(200);
    expect(Buffer.from(await hole.arrayBuffer()).equals(Buffer.alloc(MIB))).toBe(true);
    expect(hole.headers.get('x-island-hole')).toBe('true');
    await new Promise((r) => setTimeout(r, 1000));
    expect(gets()).toBe(before);
  });

  it("keeps other projects out of a snapshot's blocks and changed blocks (404, as for what does not exist)", async () => {
    const other = island.otherToken;
    expect((await changed(snapshots[4].id, '', other)).status).toBe(404);
    expect((await changed(snapshots[4].id, `?base=${snapshots[0].id}`, other)).status).toBe(404);
    expect((await island.request('GET', `/v1/snapshots/${snapshots[4].id}/blocks/0`, undefined, other)).status).toBe(404);
    // their own snapshot as the base of ours is not found either
    const theirs = await island.request('POST', '/v1/volumes', { sizeBytes: 4 * MIB }, other);
    const theirSnap = await island.request('POST', '/v1/snapshots', { volumeId: theirs.body.id }, other);
    const r = await changed(theirSnap.body.id, `?base=${snapshots[0].id}`, other);
    expect(r.status).toBe(404);
    expect(String(r.body.message)).toContain(`snapshot ${snapshots[0].id} not found`);
  });

  it('refuses bad requests with a clear reason', async () => {
    const id = snapshots[4].id;
    const expectError = async (path: string, status: number, message: string | RegExp) => {
      const r = await island.request<Json>('GET', path);
      expect(r.status).toBe(status);
      expect(String(r.body.message)).toMatch(message);
    };
    await expectError(`/v1/snapshots/${snapshots[0].id}/changed-blocks?base=${id}`, 400, `base snapshot ${id} is newer than snapshot ${snapshots[0].id}`);
    await expectError(`/v1/snapshots/${id}/changed-blocks?limit=0`, 400, 'limit must be an integer from 1 to 100000, not "0"');
    await expectError(`/v1/snapshots/${id}/changed-blocks?marker=-3`, 400, 'marker must be an integer');
    await expectError(`/v1/snapshots/${id}/changed-blocks?base=nope`, 404, 'snapshot nope not found');
    await expectError(`/v1/snapshots/${id}/blocks/16`, 400, `block index 16 is past the end of snapshot ${id} (16 blocks of 1048576 bytes)`);
    await expectError(`/v1/snapshots/${id}/blocks/1.5`, 400, 'block index must be an integer');
    await expectError(`/v1/snapshots/${id}/blocks/-1`, 400, 'block index must be an integer');

    // another volume's snapshot (a clone of snapshot 1 starts its own lineage)
    const io = guestIo(island);
    const clone = await io.createVolume(SIZE, { snapshotId: snapshots[0].id });
    const cloneSnap = await island.request('POST', '/v1/snapshots', { volumeId: clone });
    await io.until<Json>(`/v1/snapshots/${cloneSnap.body.id}`, (s) => s.status === 'available', 'snapshot of the clone');
    await expectError(`/v1/snapshots/${cloneSnap.body.id}/changed-blocks?base=${snapshots[0].id}`, 409, 'are of different volumes');

    // a snapshot still being taken
    const taking = await island.request('POST', '/v1/snapshots', { volumeId });
    await expectError(`/v1/snapshots/${taking.body.id}/changed-blocks?base=${snapshots[0].id}`, 409, 'only an available snapshot');
    await io.until<Json>(`/v1/snapshots/${taking.body.id}`, (s) => s.status === 'available', 'snapshot 6');

    // the CLI says the same and writes nothing
    const bad = island.cli('snapshot', 'export', String(id), join(dir, 'nothing.raw'), '--format', 'vmdk');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('--format must be raw or qcow2, not vmdk');
    const noBase = island.cli('snapshot', 'export', String(id), join(dir, 'absent.raw'), '--base', String(snapshots[0].id));
    expect(noBase.stderr).toContain('no such file (with --base, FILE is an existing export of the base snapshot)');
  }, 120_000);

  it('imports an image as a new snapshot uploading only the blocks the project lacks: none for an image it holds', async () => {
    const blockObjects = async () => (await island.swiftObjects('blocks/')).size;
    // snapshot 2's export, imported into the volume (now at snapshot 5's content): every block is held already
    const two = join(dir, 'import-s2.raw');
    await cliJson('snapshot', 'export', String(snapshots[1].id), two);
    const before = await blockObjects();
    const held = await cliJson<Json>('snapshot', 'import', volumeId, two, '--name', 'imported-s2');
    expect(held).toMatchObject({ blocksUploaded: 0, bytesUploaded: 0 });
    expect(await blockObjects()).toBe(before);
    const back = join(dir, 'imported-s2.raw');
    await cliJson('snapshot', 'export', String(held.snapshotId), back);
    expect(readFileSync(back).equals(models[1])).toBe(true);
    expect((await changed(held.snapshotId, `?base=${snapshots[4].id}`)).body.blocks).toEqual(differingBlocks(models[4], models[1]));

    // a qcow2 image with two new blocks: exactly those two are uploaded
    const next = Buffer.from(models[1]);
    randomBytes(MIB).copy(next, 3 * MIB);
    randomBytes(MIB).copy(next, 14 * MIB);
    const raw = join(dir, 'import-new.raw');
    writeFileSync(raw, next);
    const qcow2 = join(dir, 'import-new.qcow2');
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, qcow2]);
    const fresh = await cliJson<Json>('snapshot', 'import', volumeId, qcow2);
    expect(fresh).toMatchObject({ blocksUploaded: 2 });
    expect(await blockObjects()).toBe(before + 2);
    const freshExport = join(dir, 'imported-new.raw');
    await cliJson('snapshot', 'export', String(fresh.snapshotId), freshExport);
    expect(readFileSync(freshExport).equals(next)).toBe(true);

    // refused without writing anything: an image larger than the volume, a volume not attached, a missing file
    const snapshotsBefore = (await island.request<{ snapshots: Json[] }>('GET', `/v1/snapshots?volumeId=${volumeId}`)).body.snapshots.length;
    const large = join(dir, 'large.raw');
    writeFileSync(large, Buffer.alloc(SIZE + MIB, 1));
    expect(island.cli('snapshot', 'import', volumeId, large).stderr).toContain(
      `holds ${SIZE + MIB} bytes, volume ${volumeId} ${SIZE}: extend the volume first`,
    );
    expect(island.cli('snapshot', 'import', volumeId, join(dir, 'none.raw')).stderr).toContain('none.raw: no such file');
    // a qcow2 image whose header was damaged is not taken for a raw disk's bytes
    const damaged = join(dir, 'damaged.qcow2');
    const damagedBytes = readFileSync(qcow2);
    damagedBytes.write('XXXX', 0, 'latin1');
    writeFileSync(damaged, damagedBytes);
    expect(island.cli('snapshot', 'import', volumeId, damaged).stderr).toContain(
      "damaged.qcow2 is named as a qcow2 image but does not start with qcow2's magic",
    );
    expect(island.cli('snapshot', 'import', volumeId, raw, '--format', 'qcow2').stderr).toContain('import-new.raw is not a qcow2 image');
    // nor does an image's header make the import read a file of the host it names
    const secret = join(dir, 'host-secret.raw');
    writeFileSync(secret, Buffer.alloc(MIB, 0x5a));
    const overlay = join(dir, 'overlay.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', secret, '-F', 'raw', overlay, String(SIZE)]);
    expect(island.cli('snapshot', 'import', volumeId, overlay).stderr).toContain(`overlay.qcow2 reads through to backing file ${secret}`);
    const unplaced = await guestIo(island).createVolume(SIZE);
    expect(island.cli('snapshot', 'import', unplaced, raw).stderr).toContain(`volume ${unplaced} must be attached without an export`);
    expect((await island.request<{ snapshots: Json[] }>('GET', `/v1/snapshots?volumeId=${volumeId}`)).body.snapshots.length).toBe(snapshotsBefore);
    expect((await island.request<{ snapshots: Json[] }>('GET', `/v1/snapshots?volumeId=${unplaced}`)).body.snapshots).toEqual([]);
  }, 180_000);
});
