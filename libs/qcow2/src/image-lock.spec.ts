import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { qemuCheck, qemuImg, scratchDir } from '../test/qemu-tools';
import { createImage, ImageLockedError, ImageUsageError, openForWriting, Qcow2Image } from './index';

describe('one writer per image', () => {
  const { dir, cleanup } = scratchDir('lock');
  afterAll(cleanup);
  let n = 0;
  const fresh = async () => {
    const path = join(dir, `i${n++}.qcow2`);
    await createImage(path, { size: 1 << 20 });
    return path;
  };
  const waitFor = async (check: () => boolean) => {
    for (let i = 0; i < 100 && !check(); i++) await new Promise((r) => setTimeout(r, 50));
  };

  it('refuses a second writer in the same process and admits one after the first closed', async () => {
    const path = await fresh();
    const first = await Qcow2Image.open(path, { writable: true });
    await expect(Qcow2Image.open(path, { writable: true })).rejects.toThrow(ImageLockedError);
    const reader = await Qcow2Image.open(path);
    await reader.close();
    await first.close();
    const second = await Qcow2Image.open(path, { writable: true });
    await second.close();
  });

  it('lets a writer wait for another to let go, and gives up when the wait is over', async () => {
    const path = await fresh();
    const first = await Qcow2Image.open(path, { writable: true });
    setTimeout(() => void first.close(), 300);
    const second = await openForWriting(path, 5_000);
    await expect(openForWriting(path, 400)).rejects.toThrow(ImageLockedError);
    await second.close();
  });

  it('refuses a writer while another process holds the image, naming that process', async () => {
    const path = await fresh();
    const holder = spawn(process.execPath, [
      '-e',
      `require('fs').writeFileSync(${JSON.stringify(`${path}.lock`)}, process.pid + '\\n'); setTimeout(() => {}, 60000)`,
    ]);
    try {
      await waitFor(() => existsSync(`${path}.lock`));
      await expect(Qcow2Image.open(path, { writable: true })).rejects.toThrow(`${path} is open for writing by process ${holder.pid}`);
    } finally {
      holder.kill();
    }
  });

  it('takes over a lock left by a process that is gone', async () => {
    const path = await fresh();
    writeFileSync(`${path}.lock`, '999999999\n');
    const image = await Qcow2Image.open(path, { writable: true });
    expect(readFileSync(`${path}.lock`, 'utf8').trim()).toBe(String(process.pid));
    await image.close();
    expect(existsSync(`${path}.lock`)).toBe(false);
  });

  it('refuses to write an image QEMU has open, and writes it once QEMU let go', async () => {
    const path = await fresh();
    let nbd: ChildProcess | undefined = spawn('qemu-nbd', ['-k', join(dir, `nbd${n}.sock`), '-f', 'qcow2', path]);
    try {
      let error: unknown;
      for (let i = 0; i < 40 && !error; i++) {
        await new Promise((r) => setTimeout(r, 50));
        error = await Qcow2Image.open(path, { writable: true })
          .then((img) => img.close())
          .then(
            () => undefined,
            (e: unknown) => e,
          );
      }
      expect(error).toBeInstanceOf(ImageLockedError);
      expect(String(error)).toMatch(/is in use by a QEMU process \(it holds a (read|write) lock on byte \d+\)/);
      nbd.kill();
      await new Promise((r) => nbd?.once('exit', r));
      nbd = undefined;
      const image = await Qcow2Image.open(path, { writable: true });
      await image.write(0, Buffer.from('mine now'));
      await image.close();
      expect(qemuCheck(path)).toEqual({ errors: 0, leaks: 0, corruptions: 0 });
    } finally {
      nbd?.kill();
    }
  });
});

describe('dirty and corrupt images', () => {
  const { dir, cleanup } = scratchDir('bits');
  afterAll(cleanup);

  it('rebuilds the refcounts of a dirty image on a writable open', async () => {
    const path = join(dir, 'dirty.qcow2');
    qemuImg('create', '-f', 'qcow2', '-o', 'lazy_refcounts=on', path, '4M');
    const bytes = readFileSync(path);
    // mark dirty and damage a refcount: the rebuild must fix both
    bytes.writeBigUInt64BE(bytes.readBigUInt64BE(72) | 1n, 72);
    const refblock = Number(bytes.readBigUInt64BE(Number(bytes.readBigUInt64BE(48))));
    const l1Cluster = Number(bytes.readBigUInt64BE(40)) / 65536;
    bytes.writeUInt16BE(0, refblock + l1Cluster * 2); // the L1 table's refcount, lost
    writeFileSync(path, bytes);
    expect(qemuCheck(path).corruptions).toBeGreaterThan(0);
    const image = await Qcow2Image.open(path, { writable: true });
    expect(image.info.dirty).toBe(false);
    await image.write(65536, Buffer.alloc(4096, 3));
    await image.close();
    expect(qemuCheck(path)).toEqual({ errors: 0, leaks: 0, corruptions: 0 });
  });

  it('opens an image marked corrupt read-only but never for writing', async () => {
    const path = join(dir, 'corrupt.qcow2');
    qemuImg('create', '-f', 'qcow2', path, '4M');
    const bytes = readFileSync(path);
    bytes.writeBigUInt64BE(bytes.readBigUInt64BE(72) | 2n, 72);
    writeFileSync(path, bytes);
    await expect(Qcow2Image.open(path, { writable: true })).rejects.toThrow(ImageUsageError);
    const reader = await Qcow2Image.open(path);
    expect(reader.info.corrupt).toBe(true);
    await reader.close();
  });
});
