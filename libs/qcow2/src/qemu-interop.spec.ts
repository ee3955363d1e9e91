import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { qemuCheck, qemuImg, qemuIo, qemuRaw, scratchDir } from '../test/qemu-tools';
import { createImage, Qcow2Image } from './index';

/** Images made by qemu-img/qemu-io, read by island: every byte equals `qemu-img convert -O raw`. */
describe('reading images that qemu made', () => {
  const { dir, cleanup } = scratchDir('interop');
  afterAll(cleanup);
  let n = 0;

  async function expectSameBytes(path: string, snapshots: string[] = []) {
    const image = await Qcow2Image.open(path);
    try {
      expect((await image.read(0, image.header.size)).equals(qemuRaw(dir, path))).toBe(true);
      for (const s of snapshots) {
        const view = await image.snapshotView(s);
        expect((await image.readView(view, 0, view.size)).equals(qemuRaw(dir, path, s))).toBe(true);
      }
    } finally {
      await image.close();
    }
  }

  /** A guest pattern touching partial clusters, whole clusters, zeroes and overwrites. */
  function writePattern(path: string, clusterSize: number) {
    qemuIo(
      path,
      `write -P 0x11 0 ${clusterSize * 3}`,
      `write -P 0x22 ${clusterSize + 100} 1000`,
      `write -P 0x33 ${clusterSize * 7 + 512} ${clusterSize * 2}`,
      `write -z ${clusterSize} ${clusterSize}`,
      `write -P 0x44 1500000 70000`,
    );
  }

  // refcount_bits=1 allows no snapshots (a shared cluster needs a refcount of 2)
  const matrix: { clusterSize: number; refcountBits: number; compat: '0.10' | '1.1'; extendedL2?: boolean; noSnapshots?: boolean }[] = [
    { clusterSize: 512, refcountBits: 16, compat: '1.1', extendedL2: false },
    { clusterSize: 4096, refcountBits: 1, compat: '1.1', extendedL2: false, noSnapshots: true },
    { clusterSize: 16384, refcountBits: 2, compat: '1.1', extendedL2: false },
    { clusterSize: 65536, refcountBits: 4, compat: '1.1', extendedL2: false },
    { clusterSize: 65536, refcountBits: 8, compat: '1.1', extendedL2: false },
    { clusterSize: 65536, refcountBits: 16, compat: '0.10', extendedL2: false },
    { clusterSize: 131072, refcountBits: 32, compat: '1.1', extendedL2: false },
    { clusterSize: 2097152, refcountBits: 64, compat: '1.1', extendedL2: false },
    { clusterSize: 65536, refcountBits: 16, compat: '1.1', extendedL2: true },
  ];

  it.each(matrix)('reads cluster size $clusterSize, refcount bits $refcountBits, compat $compat, extended L2 $extendedL2', async (c) => {
    const path = join(dir, `m${n++}.qcow2`);
    const opts = [`cluster_size=${c.clusterSize}`, `refcount_bits=${c.refcountBits}`, `compat=${c.compat}`];
    if (c.extendedL2) opts.push('extended_l2=on');
    const size = Math.max(8 << 20, c.clusterSize * 16);
    qemuImg('create', '-f', 'qcow2', '-o', opts.join(','), path, String(size));
    writePattern(path, c.clusterSize);
    if (!c.noSnapshots) qemuImg('snapshot', '-c', 'first', path);
    qemuIo(path, `write -P 0x55 ${c.clusterSize * 2} ${c.clusterSize}`, `write -P 0x66 4000000 12345`);
    if (!c.noSnapshots) qemuImg('snapshot', '-c', 'second', path);
    qemuIo(path, `write -z 0 ${c.clusterSize * 4}`, `write -P 0x77 ${size - 1_000_000} 4096`);
    await expectSameBytes(path, c.noSnapshots ? [] : ['first', 'second']);
  });

  it('reads a deflate-compressed image (convert -c)', async () => {
    const source = join(dir, 'plain.qcow2');
    qemuImg('create', '-f', 'qcow2', source, '4M');
    qemuIo(source, 'write -P 0xaa 0 1M', 'write -P 0x00 1M 64k', 'write -P 0x5c 2M 300k');
    const compressed = join(dir, 'compressed.qcow2');
    qemuImg('convert', '-c', '-O', 'qcow2', source, compressed);
    await expectSameBytes(compressed);
  });

  it('reads a zstd-compressed image', async () => {
    const source = join(dir, 'plain-z.qcow2');
    qemuImg('create', '-f', 'qcow2', source, '4M');
    qemuIo(source, 'write -P 0xab 0 1M', 'write -P 0x3c 2M 300k');
    const compressed = join(dir, 'zstd.qcow2');
    qemuImg('convert', '-c', '-O', 'qcow2', '-o', 'compression_type=zstd', source, compressed);
    const image = await Qcow2Image.open(compressed);
    expect(image.info.compressionType).toBe('zstd');
    await image.close();
    await expectSameBytes(compressed);
  });

  it('reads through a backing chain of qcow2 over raw', async () => {
    const base = join(dir, 'base.raw');
    qemuImg('create', '-f', 'raw', base, '4M');
    execFileSync('qemu-io', ['-f', 'raw', '-c', 'write -P 0x10 0 4M', base]);
    const mid = join(dir, 'mid.qcow2');
    qemuImg('create', '-f', 'qcow2', '-b', base, '-F', 'raw', mid);
    qemuIo(mid, 'write -P 0x20 1M 1M');
    const top = join(dir, 'top.qcow2');
    qemuImg('create', '-f', 'qcow2', '-b', mid, '-F', 'qcow2', top, '6M');
    qemuIo(top, 'write -P 0x30 1536k 64k', 'write -z 3M 64k');
    await expectSameBytes(top);
  });

  it('refuses, when asked to, an image that names a backing file, before opening that file', async () => {
    const missing = join(dir, 'never-opened.raw');
    const overlay = join(dir, 'overlay-of-missing.qcow2');
    qemuImg('create', '-f', 'qcow2', '-b', missing, '-F', 'raw', '-u', overlay, '4M');
    await expect(Qcow2Image.open(overlay, { refuseBacking: true })).rejects.toThrow(`reads through to backing file ${missing}`);
    // without the option the same image follows its header to the backing file (which does not exist here)
    await expect(Qcow2Image.open(overlay)).rejects.toThrow(`backing file ${missing} cannot be opened`);
  });
});

/** Images island writes pass `qemu-img check` and read the same in qemu. */
describe('images island writes', () => {
  const { dir, cleanup } = scratchDir('written');
  afterAll(cleanup);

  it('creates images qemu-img accepts as empty and clean, for every compat and refcount width', async () => {
    for (const [compat, bits, cluster] of [
      ['1.1', 1, 512],
      ['1.1', 64, 65536],
      ['0.10', 16, 4096],
      ['1.1', 16, 2097152],
    ] as const) {
      const path = join(dir, `new-${compat}-${bits}-${cluster}.qcow2`);
      await createImage(path, { size: 3 << 20, compat, refcountBits: bits, clusterSize: cluster });
      expect(qemuCheck(path)).toEqual({ errors: 0, leaks: 0, corruptions: 0 });
      const info = JSON.parse(qemuImg('info', '--output=json', path));
      expect(info['virtual-size']).toBe(3 << 20);
      expect(info['cluster-size']).toBe(cluster);
      expect(qemuRaw(dir, path).equals(Buffer.alloc(3 << 20))).toBe(true);
    }
  });
});
