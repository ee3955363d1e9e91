import { closeSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { qemuCheck, qemuImg, qemuRaw, scratchDir } from '../test/qemu-tools';
import { checkImage, createImage, createSnapshot, Qcow2Image } from './index';

/** A check or a refcount rebuild counts references a window of clusters at a time; the verdicts must not depend on it. */
describe('reference counting in windows', () => {
  const { dir, cleanup } = scratchDir('windows');
  afterAll(cleanup);

  /** An image of 512-byte clusters (thousands of them) with a point in time sharing some of its data clusters. */
  async function imageWithSnapshot(name: string): Promise<string> {
    const path = join(dir, name);
    await createImage(path, { size: 4 << 20, clusterSize: 512 });
    const image = await Qcow2Image.open(path, { writable: true });
    for (let i = 0; i < 300; i++) await image.write(i * 7 * 512, Buffer.alloc(1536, 1 + (i % 200)));
    await createSnapshot(image, 'before');
    for (let i = 0; i < 300; i += 4) await image.write(i * 7 * 512, Buffer.alloc(512, 0xee));
    await image.close();
    expect(qemuCheck(path)).toEqual({ errors: 0, leaks: 0, corruptions: 0 });
    return path;
  }

  /** Changes the stored refcounts of `clusters` by `delta` (leaks up, errors down). */
  async function shiftRefcounts(path: string, clusters: number[], delta: number): Promise<void> {
    const image = await Qcow2Image.open(path, { writable: true });
    for (const c of clusters) await image.refcounts.set(c, (await image.refcounts.get(c)) + delta);
    await image.close();
  }

  async function check(path: string, options: { repair?: boolean; windowClusters?: number } = {}) {
    const image = await Qcow2Image.open(path, { writable: Boolean(options.repair) });
    try {
      return await checkImage(image, options);
    } finally {
      await image.close();
    }
  }

  it('finds the same leaks and errors counting seven clusters at a time as in one pass, as qemu-img does', async () => {
    const path = await imageWithSnapshot('damaged.qcow2');
    const file = Math.ceil(readFileSync(path).length / 512);
    const leaked = [file - 3, Math.floor(file / 2), 40];
    await shiftRefcounts(path, leaked, +1);
    // data clusters referenced once (written after the point in time): a refcount of 0 under a reference is an error
    const image = await Qcow2Image.open(path);
    const l1 = image.activeView().l1;
    const table = await image.l2Table(image.l2OffsetOf(l1[0], 0), 'L2 table 0');
    const { clusters } = image.hostClusters(table, 0, true);
    const shared = await image.refcounts.getMany(clusters);
    const owned = [...clusters].filter((_, k) => shared[k] === 1).slice(0, 2);
    await image.close();
    expect(owned).toHaveLength(2);
    await shiftRefcounts(path, owned, -1);

    const qemu = qemuCheck(path);
    const onePass = await check(path);
    const windows = await check(path, { windowClusters: 7 });
    expect(onePass.leaks).toBe(3);
    expect(onePass.errors).toBeGreaterThanOrEqual(2);
    expect(qemu.leaks).toBe(3);
    expect(windows.leaks).toBe(onePass.leaks);
    expect(windows.errors).toBe(onePass.errors);
    expect([...windows.problems].sort()).toEqual([...onePass.problems].sort());
    for (const c of leaked) expect(windows.problems.join('\n')).toContain(`cluster 0x${(c * 512).toString(16)} leaked`);

    const repaired = await check(path, { repair: true, windowClusters: 7 });
    expect(repaired.leaksFixed).toBe(3);
    expect(repaired.leaks).toBe(0);
    expect(qemuCheck(path).leaks).toBe(0);
  });

  it('rebuilds the refcounts of a dirty image seven clusters at a time to what qemu-img expects', async () => {
    const path = await imageWithSnapshot('dirty.qcow2');
    const guest = qemuRaw(dir, path);
    const before = qemuRaw(dir, path, 'before');
    await shiftRefcounts(path, [5, 90, 91], +2);
    const image = await Qcow2Image.open(path, { writable: true });
    await image.rebuildRefcounts(7);
    await image.close();
    expect(qemuCheck(path)).toEqual({ errors: 0, leaks: 0, corruptions: 0 });
    expect(qemuRaw(dir, path).equals(guest)).toBe(true);
    expect(qemuRaw(dir, path, 'before').equals(before)).toBe(true);
  });

  it('checks and rebuilds an image allocated in full with more clusters than one pass counts (1.5 TiB)', async () => {
    // 24 M clusters of 64 KiB: more than a JavaScript Map holds (2^24 entries), as a count per cluster once needed
    const path = join(dir, 'large.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'preallocation=metadata,lazy_refcounts=on', path, '1536G');
    expect(await check(path)).toMatchObject({ errors: 0, leaks: 0 });

    // dirty, and a refcount lost: a writable open rebuilds every refcount
    const header = readAt(path, 0, 104);
    const firstBlock = Number(readAt(path, Number(header.readBigUInt64BE(48)), 8).readBigUInt64BE(0));
    writeAt(path, 72, bigEndian(header.readBigUInt64BE(72) | 1n));
    writeAt(path, firstBlock + 2 * 3, Buffer.alloc(2)); // cluster 3's refcount
    expect(qemuCheck(path).corruptions).toBeGreaterThan(0);
    const image = await Qcow2Image.open(path, { writable: true });
    expect(image.info.dirty).toBe(false);
    await image.close();
    expect(qemuCheck(path)).toEqual({ errors: 0, leaks: 0, corruptions: 0 });
  }, 300_000);
});

function readAt(path: string, offset: number, bytes: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const out = Buffer.alloc(bytes);
    readSync(fd, out, 0, bytes, offset);
    return out;
  } finally {
    closeSync(fd);
  }
}

function writeAt(path: string, offset: number, data: Buffer): void {
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, data, 0, data.length, offset);
  } finally {
    closeSync(fd);
  }
}

function bigEndian(value: bigint): Buffer {
  const out = Buffer.alloc(8);
  out.writeBigUInt64BE(value);
  return out;
}
