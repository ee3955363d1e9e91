import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Qcow2Image } from '@island/qcow2';
import { useIsland } from '@island/stack';

const MIB = 1 << 20;
type Json = Record<string, unknown>;

/**
 * The mission scenario through the CLI, as an operator runs it: create, attach, write with
 * `island image write`, three snapshots with overwrites, new data and zeroed blocks, restore of every
 * snapshot compared byte for byte, block sharing between volumes, revert to the oldest; then the failure
 * cases: a writer holding the image while a snapshot is requested, and a worker killed mid-upload.
 */
describe('the mission scenario, through the CLI', () => {
  const island = useIsland();
  const size = 32 * MIB;

  const run = (...args: string[]) => {
    const result = island.cli(...args);
    if (result.code !== 0) throw new Error(`island ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  };
  const write = (path: string, offset: number, data: Buffer, model: Buffer) => {
    const file = join(island.dataDir, `payload-${randomBytes(4).toString('hex')}`);
    writeFileSync(file, data);
    run('image', 'write', path, '--offset', String(offset), '--from', file);
    data.copy(model, offset);
  };
  const exported = (path: string): Buffer => {
    const out = join(island.dataDir, `export-${randomBytes(4).toString('hex')}.raw`);
    run('image', 'export', path, out);
    return readFileSync(out);
  };

  it('keeps every snapshot restorable bit-exact, uploads only what changed and shares blocks between volumes', () => {
    const volume = island.json('volume', 'create', '--size', '32M', '--name', 'mission');
    expect(volume).toMatchObject({ status: 'available' });
    const id = String(volume.id);
    const attached = island.json('volume', 'attach', id, '--host', island.host, '--wait');
    const path = (attached.connection as { path: string; format: string }).path;
    expect(attached).toMatchObject({ status: 'in-use', connection: { format: 'qcow2' } });
    const model = Buffer.alloc(size);

    write(path, 0, randomBytes(6 * MIB), model);
    write(path, 16 * MIB, randomBytes(2 * MIB), model);
    const s1 = island.json('snapshot', 'create', id, '--wait');
    const at1 = Buffer.from(model);
    expect(s1).toMatchObject({ status: 'available', blocksUploaded: 8, blocksReused: 0 });

    write(path, MIB + 4096, randomBytes(1000), model); // overwrite inside block 1
    write(path, 24 * MIB, randomBytes(MIB), model); // new block 24
    write(path, 16 * MIB, Buffer.alloc(MIB), model); // block 16 zeroed (written as zeros)
    const s2 = island.json('snapshot', 'create', id, '--wait');
    const at2 = Buffer.from(model);
    expect(s2).toMatchObject({ status: 'available', blocksUploaded: 2 });
    expect(Number(s2.bytesUploaded)).toBeLessThanOrEqual(2 * (MIB + 64));

    write(path, 5 * MIB, randomBytes(MIB), model);
    const s3 = island.json('snapshot', 'create', id, '--wait');
    const at3 = Buffer.from(model);
    expect(s3).toMatchObject({ status: 'available', blocksUploaded: 1 });

    const listed = island.json('snapshot', 'list', '--volume', id);
    expect((listed.snapshots as Json[]).map((s) => s.id)).toEqual([s1.id, s2.id, s3.id]);

    for (const [snap, expected] of [
      [s3, at3],
      [s1, at1],
      [s2, at2],
    ] as const) {
      const clone = island.json('volume', 'create', '--snapshot', String(snap.id));
      expect(clone.sizeBytes).toBe(32 * MIB);
      const clonePath = (island.json('volume', 'attach', String(clone.id), '--host', island.host, '--wait').connection as { path: string }).path;
      expect(exported(clonePath).equals(expected)).toBe(true);
    }

    // a second volume written with the same content shares every block: nothing is uploaded again
    const twin = island.json('volume', 'create', '--size', '32M', '--name', 'twin');
    const twinPath = (island.json('volume', 'attach', String(twin.id), '--host', island.host, '--wait').connection as { path: string }).path;
    const copy = Buffer.alloc(size);
    write(twinPath, 0, at3, copy);
    const twinSnap = island.json('snapshot', 'create', String(twin.id), '--wait');
    expect(twinSnap).toMatchObject({ status: 'available', blocksUploaded: 0, bytesUploaded: 0 });
    expect(twinSnap.blocksReused).toBe(8); // blocks 0–5, 17 and 24 hold data; zero blocks are holes

    run('volume', 'detach', id, '--wait');
    run('volume', 'revert', id, '--snapshot', String(s1.id), '--wait');
    expect(exported(path).equals(at1)).toBe(true);
    const volumes = island.json('volume', 'list');
    expect((volumes.volumes as Json[]).some((v) => v.id === id)).toBe(true);
  }, 180_000);

  it('waits for another writer to let go of the image before taking a point in time', async () => {
    const volume = island.json('volume', 'create', '--size', '8M');
    const id = String(volume.id);
    const path = (island.json('volume', 'attach', id, '--host', island.host, '--wait').connection as { path: string }).path;
    const model = Buffer.alloc(8 * MIB);
    write(path, 0, randomBytes(2 * MIB), model);
    // another process holds the image open for writing
    const holder = spawn(process.execPath, [
      '-e',
      `require('fs').writeFileSync(${JSON.stringify(`${path}.lock`)}, process.pid + '\\n'); setTimeout(() => {}, 60000)`,
    ]);
    for (let i = 0; i < 100 && !existsSync(`${path}.lock`); i++) await new Promise((r) => setTimeout(r, 50)); // node may start slowly
    expect(existsSync(`${path}.lock`)).toBe(true);
    const created = await island.request('POST', '/v1/snapshots', { volumeId: id, name: 'contended' });
    expect(created.status).toBe(202);
    await new Promise((r) => setTimeout(r, 1_500));
    expect((await island.request('GET', `/v1/snapshots/${created.body.id}`)).body.status).not.toBe('available');
    holder.kill();
    let snap: Json = {};
    for (let i = 0; i < 200 && snap.status !== 'available'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      snap = (await island.request('GET', `/v1/snapshots/${created.body.id}`)).body;
    }
    expect(snap.status).toBe('available');
    const clone = island.json('volume', 'create', '--size', '8M', '--snapshot', String(snap.id));
    const clonePath = (island.json('volume', 'attach', String(clone.id), '--host', island.host, '--wait').connection as { path: string }).path;
    expect(exported(clonePath).equals(model)).toBe(true);
    const image = await Qcow2Image.open(path);
    await image.close();
  }, 60_000);

  it('completes a snapshot whose worker was killed mid-upload, with nothing corrupt committed', async () => {
    const volume = island.json('volume', 'create', '--size', '96M');
    const id = String(volume.id);
    const path = (island.json('volume', 'attach', id, '--host', island.host, '--wait').connection as { path: string }).path;
    const model = Buffer.alloc(96 * MIB);
    write(path, 0, randomBytes(80 * MIB), model);
    const created = await island.request('POST', '/v1/snapshots', { volumeId: id, name: 'crash' });
    expect(created.status).toBe(202);
    for (let i = 0; i < 100; i++) {
      const s = (await island.request('GET', `/v1/snapshots/${created.body.id}`)).body;
      if (s.status === 'uploading' || s.status === 'available') break;
      await new Promise((r) => setTimeout(r, 20));
    }
    island.kill('worker-1');
    let snap: Json = {};
    for (let i = 0; i < 600 && snap.status !== 'available'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      snap = (await island.request('GET', `/v1/snapshots/${created.body.id}`)).body;
    }
    expect(snap).toMatchObject({ status: 'available', blocksTotal: 80, blocksDone: 80 });
    const clone = island.json('volume', 'create', '--size', '96M', '--snapshot', String(snap.id));
    const clonePath = (island.json('volume', 'attach', String(clone.id), '--host', island.host, '--wait').connection as { path: string }).path;
    expect(exported(clonePath).equals(model)).toBe(true);
  }, 120_000);
});
