import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { layoutOf, MALFORMED, MalformedCase } from '../test/malformed-corpus';
import { qemuImg, qemuIo, scratchDir, seeded } from '../test/qemu-tools';
import { CheckResult, checkImage, Qcow2Error, Qcow2Image } from './index';

/** Hostile images: every malformed field is refused with a typed error that names it; nothing crashes or hangs. */
describe('malformed images', () => {
  const { dir, cleanup } = scratchDir('malformed');
  const bases: Record<MalformedCase['base'], Buffer> = {} as Record<MalformedCase['base'], Buffer>;
  let n = 0;

  beforeAll(() => {
    for (const [name, compat] of [
      ['v3', '1.1'],
      ['v2', '0.10'],
    ] as const) {
      const path = join(dir, `${name}.qcow2`);
      qemuImg('create', '-f', 'qcow2', '-o', `cluster_size=65536,compat=${compat}`, path, '4M');
      qemuIo(path, 'write -P 0xaa 0 192k');
      qemuImg('snapshot', '-c', 'snap', path);
      bases[name] = readFileSync(path);
    }
    const compressed = join(dir, 'compressed.qcow2');
    qemuImg('convert', '-c', '-O', 'qcow2', join(dir, 'v3.qcow2'), compressed);
    bases.compressed = readFileSync(compressed);
    const zstd = join(dir, 'zstd.qcow2');
    qemuImg('convert', '-c', '-O', 'qcow2', '-o', 'compression_type=zstd', join(dir, 'v3.qcow2'), zstd);
    bases.zstd = readFileSync(zstd);
  });
  afterAll(cleanup);

  /** Opens the image and does `action`; a check's report is returned. */
  async function exercise(path: string, action: MalformedCase['action']): Promise<CheckResult | undefined> {
    const image = await Qcow2Image.open(path, { writable: action === 'open-writable' });
    try {
      if (action === 'read-all') await image.read(0, image.header.size);
      if (action === 'check') return await checkImage(image);
      return undefined;
    } finally {
      await image.close();
    }
  }

  it('has a corpus of at least 50 cases', () => {
    expect(MALFORMED.length).toBeGreaterThanOrEqual(50);
  });

  it('opens, reads and checks every base image cleanly', async () => {
    for (const base of Object.values(bases)) {
      const path = join(dir, `clean-${n++}.qcow2`);
      writeFileSync(path, base);
      expect(await exercise(path, 'check')).toMatchObject({ errors: 0, leaks: 0 });
      await exercise(path, 'read-all');
    }
  });

  it.each(MALFORMED)('refuses $name ($base) with a typed error naming it', async (c) => {
    const bytes = Buffer.from(bases[c.base]);
    c.mutate(bytes, layoutOf(bases[c.base]));
    const path = join(dir, `case-${n++}.qcow2`);
    writeFileSync(path, bytes);
    const error = await exercise(path, c.action).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(Qcow2Error);
    expect((error as Error).message).toMatch(c.expected);
  });

  it('survives random corruption of headers and tables: a typed error or a clean read, never a crash or a hang', async () => {
    const random = seeded(2026);
    const base = bases.v3;
    const layout = layoutOf(base);
    const regions = [
      [0, 4096],
      [layout.l1, 64],
      [layout.firstL2, 512],
      [layout.refcountTable, 64],
      [layout.firstRefblock, 256],
      [layout.snapshots, 128],
    ];
    const started = Date.now();
    let typed = 0;
    for (let i = 0; i < 300 && Date.now() - started < 90_000; i++) {
      const bytes = Buffer.from(base);
      for (let flips = 1 + Math.floor(random() * 8); flips > 0; flips--) {
        const [start, length] = regions[Math.floor(random() * regions.length)];
        bytes[start + Math.floor(random() * length)] ^= 1 << Math.floor(random() * 8);
      }
      const path = join(dir, `fuzz-${i % 4}.qcow2`);
      writeFileSync(path, bytes);
      let timer: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([
        exercise(path, 'check')
          .then(() => exercise(path, 'read-all'))
          .then(
            () => 'ok',
            (e: unknown) => e,
          ),
        new Promise((resolve) => (timer = setTimeout(() => resolve('hang'), 2_000))),
      ]);
      clearTimeout(timer);
      if (outcome === 'hang') throw new Error(`iteration ${i}: no answer within 2 s`);
      if (outcome !== 'ok') {
        if (!(outcome instanceof Qcow2Error)) throw new Error(`iteration ${i}: untyped ${String((outcome as Error)?.stack ?? outcome)}`);
        typed++;
      }
      expect(process.memoryUsage().heapUsed).toBeLessThan(1.5 * 2 ** 30);
    }
    expect(typed).toBeGreaterThan(0);
  }, 120_000);
});
