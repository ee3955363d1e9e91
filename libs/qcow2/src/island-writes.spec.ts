import { join } from 'node:path';
import { qemuCheck, qemuImg, qemuRaw, scratchDir, seeded } from '../test/qemu-tools';
import { createImage, createSnapshot, deleteSnapshot, diffSnapshots, growImage, Qcow2Image, revertToSnapshot, checkImage } from './index';

/** qemu reads a snapshot at the image's current size: equal over the shorter length, zeros beyond. */
function sameGuest(a: Buffer, b: Buffer): boolean {
  const n = Math.min(a.length, b.length);
  const rest = a.length > n ? a.subarray(n) : b.subarray(n);
  return a.subarray(0, n).equals(b.subarray(0, n)) && rest.every((x) => x === 0);
}

/**
 * Random writes, overwrites, zero writes, snapshot create/delete/revert and grows, checked against an
 * in-memory model of every point in time, against qemu-img check and against qemu-img's own reading.
 */
describe('island-written images agree with qemu-img', () => {
  const { dir, cleanup } = scratchDir('writes');
  afterAll(cleanup);

  const cases = [
    { seed: 1, clusterSize: 65536, compat: '1.1' as const, refcountBits: 16 },
    { seed: 2, clusterSize: 4096, compat: '1.1' as const, refcountBits: 2 },
    { seed: 3, clusterSize: 512, compat: '1.1' as const, refcountBits: 64 },
    { seed: 4, clusterSize: 65536, compat: '0.10' as const, refcountBits: 16 },
    // 64 clusters a refcount block, one block in memory: every step pushes refcount blocks out (moved first in snapshots)
    { seed: 5, clusterSize: 512, compat: '1.1' as const, refcountBits: 64, refcountCacheBlocks: 1 },
  ].map((c) => ({ refcountCacheBlocks: undefined as number | undefined, ...c }));

  it.each(cases)(
    'keeps every point in time exact (seed $seed, cluster $clusterSize, compat $compat, refcount bits $refcountBits, refcount cache $refcountCacheBlocks)',
    async (c) => {
      const random = seeded(c.seed);
      const int = (n: number) => Math.floor(random() * n);
      const path = join(dir, `w${c.seed}.qcow2`);
      let size = 4 << 20;
      await createImage(path, { size, clusterSize: c.clusterSize, compat: c.compat, refcountBits: c.refcountBits });
      let model = Buffer.alloc(size);
      const snapshots = new Map<string, Buffer>();
      const open = () => Qcow2Image.open(path, { writable: true, refcountCacheBlocks: c.refcountCacheBlocks });
      let image = await open();
      let counter = 0;
      for (let step = 0; step < 60; step++) {
        const op = random();
        if (op < 0.5) {
          const length = 1 + int(c.clusterSize * 3);
          const offset = int(size - length);
          const data = Buffer.alloc(length, 1 + int(255));
          data.writeUInt32BE(step, 0);
          await image.write(offset, data);
          data.copy(model, offset);
        } else if (op < 0.62) {
          const length = 1 + int(c.clusterSize * 4);
          const offset = int(size - length);
          await image.writeZeroes(offset, length);
          model.fill(0, offset, offset + length);
        } else if (op < 0.77 && snapshots.size + 2 <= 2 ** c.refcountBits - 1) {
          const name = `s${counter++}`;
          await createSnapshot(image, name);
          snapshots.set(name, Buffer.from(model));
        } else if (op < 0.87 && snapshots.size > 0) {
          const names = [...snapshots.keys()];
          const name = names[int(names.length)];
          await deleteSnapshot(image, name);
          snapshots.delete(name);
        } else if (op < 0.95 && snapshots.size > 0) {
          const names = [...snapshots.keys()];
          const name = names[int(names.length)];
          await revertToSnapshot(image, name);
          model = Buffer.from(snapshots.get(name) as Buffer);
          size = model.length;
        } else {
          const grown = size + c.clusterSize * (1 + int(8)) + 512 * int(c.clusterSize / 512);
          await growImage(image, grown);
          model = Buffer.concat([model, Buffer.alloc(grown - size)]);
          size = grown;
        }
        if (step % 15 === 14) {
          await image.close();
          expect(qemuCheck(path)).toEqual({ errors: 0, leaks: 0, corruptions: 0 });
          expect(qemuRaw(dir, path).equals(model)).toBe(true);
          image = await open();
        }
      }
      for (const [name, bytes] of snapshots) {
        const view = await image.snapshotView(name);
        expect((await image.readView(view, 0, view.size)).equals(bytes)).toBe(true);
      }
      expect((await image.read(0, size)).equals(model)).toBe(true);
      const own = await checkImage(image);
      expect({ errors: own.errors, leaks: own.leaks }).toEqual({ errors: 0, leaks: 0 });
      await image.close();
      expect(qemuCheck(path)).toEqual({ errors: 0, leaks: 0, corruptions: 0 });
      for (const [name, bytes] of snapshots) expect(sameGuest(qemuRaw(dir, path, name), bytes)).toBe(true);
      const listed = qemuImg('snapshot', '-l', path);
      for (const name of snapshots.keys()) expect(listed).toContain(` ${name} `);
    },
    120_000,
  );

  it('keeps an image with more L2 tables than the cache holds consistent through writes and snapshots', async () => {
    // 512-byte clusters: each L2 table maps 32 KiB, so 600 scattered writes dirty 600 tables and the cache (512) evicts
    const path = join(dir, 'many-tables.qcow2');
    const size = 20 << 20;
    await createImage(path, { size, clusterSize: 512 });
    const model = Buffer.alloc(size);
    const image = await Qcow2Image.open(path, { writable: true });
    const writeAt = async (region: number, value: number) => {
      const data = Buffer.alloc(512, value);
      await image.write(region * (32 << 10), data);
      data.copy(model, region * (32 << 10));
    };
    for (let region = 0; region < 600; region++) await writeAt(region, 1 + (region % 250));
    await createSnapshot(image, 'wide');
    const snapshot = Buffer.from(model);
    for (let region = 0; region < 600; region += 3) await writeAt(region, 0xee);
    await image.close();
    expect(qemuCheck(path)).toEqual({ errors: 0, leaks: 0, corruptions: 0 });
    expect(qemuRaw(dir, path).equals(model)).toBe(true);
    expect(qemuRaw(dir, path, 'wide').equals(snapshot)).toBe(true);

    const again = await Qcow2Image.open(path, { writable: true });
    await deleteSnapshot(again, 'wide');
    await again.close();
    expect(qemuCheck(path)).toEqual({ errors: 0, leaks: 0, corruptions: 0 });
    expect(qemuRaw(dir, path).equals(model)).toBe(true);
  });

  it('lands writes issued together by one caller (new L2 tables, overwrites, zeros) as if issued one after another', async () => {
    // the CLI's export writes 8 blocks at once: without ordering, two writes could each allocate the same L2 table
    const path = join(dir, 'concurrent.qcow2');
    const size = 64 << 20;
    await createImage(path, { size, clusterSize: 65536 });
    const model = Buffer.alloc(size);
    let image = await Qcow2Image.open(path, { writable: true });
    const round = async (value: number, zeroEvery: number) =>
      Promise.all(
        Array.from({ length: 64 }, (_, i) => {
          const offset = i * (1 << 20);
          if (i % zeroEvery === 0) {
            model.fill(0, offset, offset + (1 << 20));
            return image.writeZeroes(offset, 1 << 20);
          }
          const data = Buffer.alloc(1 << 20, value + i);
          data.copy(model, offset);
          return image.write(offset, data);
        }),
      );
    await round(1, 1000);
    await createSnapshot(image, 'first');
    await round(100, 3);
    // reopened, the refcount blocks and L2 tables are read from the file as the writes reach them
    await image.close();
    image = await Qcow2Image.open(path, { writable: true });
    await round(200, 4);
    await image.close();
    expect(qemuCheck(path)).toEqual({ errors: 0, leaks: 0, corruptions: 0 });
    expect(qemuRaw(dir, path).equals(model)).toBe(true);
  });

  it('reverts with qemu-img to a snapshot island took', async () => {
    const path = join(dir, 'revert.qcow2');
    await createImage(path, { size: 2 << 20 });
    const image = await Qcow2Image.open(path, { writable: true });
    await image.write(0, Buffer.alloc(100_000, 7));
    await createSnapshot(image, 'before');
    await image.write(50_000, Buffer.alloc(300_000, 9));
    await image.close();
    qemuImg('snapshot', '-a', 'before', path);
    const expected = Buffer.alloc(2 << 20);
    expected.fill(7, 0, 100_000);
    expect(qemuRaw(dir, path).equals(expected)).toBe(true);
    expect(qemuCheck(path)).toEqual({ errors: 0, leaks: 0, corruptions: 0 });
  });
});

describe('snapshot diff', () => {
  const { dir, cleanup } = scratchDir('diff');
  afterAll(cleanup);

  it('reports exactly the clusters rewritten between two points in time', async () => {
    const random = seeded(42);
    const int = (n: number) => Math.floor(random() * n);
    const clusterSize = 4096;
    const size = 8 << 20;
    const path = join(dir, 'diff.qcow2');
    await createImage(path, { size, clusterSize });
    const image = await Qcow2Image.open(path, { writable: true });
    const points: { name: string; bytes: Buffer; writtenSince: Set<number> }[] = [];
    let model = Buffer.alloc(size);
    let written = new Set<number>();
    for (let round = 0; round < 5; round++) {
      for (let w = 0; w < 40; w++) {
        const length = 1 + int(clusterSize * 5);
        const offset = int(size - length);
        if (random() < 0.2) {
          await image.writeZeroes(offset, length);
          model.fill(0, offset, offset + length);
        } else {
          const data = Buffer.alloc(length, 1 + int(255));
          await image.write(offset, data);
          data.copy(model, offset);
        }
        for (let c = Math.floor(offset / clusterSize); c <= Math.floor((offset + length - 1) / clusterSize); c++) written.add(c);
      }
      const name = `p${round}`;
      await createSnapshot(image, name);
      points.push({ name, bytes: Buffer.from(model), writtenSince: written });
      written = new Set();
      model = Buffer.from(model);
    }
    for (let a = 0; a < points.length; a++) {
      for (let b = a + 1; b < points.length; b++) {
        const rewritten = new Set<number>();
        for (let k = a + 1; k <= b; k++) for (const c of points[k].writtenSince) rewritten.add(c);
        const { extents } = await diffSnapshots(image, points[a].name, points[b].name);
        const reported = new Set<number>();
        for (const e of extents) {
          for (let c = e.offset / clusterSize; c < (e.offset + e.length) / clusterSize; c++) {
            reported.add(c);
            const after = points[b].bytes.subarray(c * clusterSize, (c + 1) * clusterSize);
            // "zero" promises zeros; "data" is allocated and may hold zeros too (a partial zero write)
            if (e.kind === 'zero') expect(after.every((x) => x === 0)).toBe(true);
          }
        }
        for (const c of reported) expect(rewritten.has(c)).toBe(true);
        for (let c = 0; c < size / clusterSize; c++) {
          const before = points[a].bytes.subarray(c * clusterSize, (c + 1) * clusterSize);
          const after = points[b].bytes.subarray(c * clusterSize, (c + 1) * clusterSize);
          if (!before.equals(after)) expect(reported.has(c)).toBe(true);
        }
        // sorted, merged, non-overlapping
        for (let i = 1; i < extents.length; i++) {
          const prev = extents[i - 1];
          expect(prev.offset + prev.length <= extents[i].offset).toBe(true);
          expect(prev.offset + prev.length === extents[i].offset && prev.kind === extents[i].kind).toBe(false);
        }
      }
    }
    const fromEmpty = await diffSnapshots(image, null, 'p0');
    const allocated = fromEmpty.extents.reduce((n, e) => n + e.length, 0);
    expect(allocated).toBeGreaterThan(0);
    await image.close();
  }, 60_000);
});
