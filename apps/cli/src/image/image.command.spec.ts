import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../main';

/** Runs `island …` in-process, capturing stdout/stderr and the exit code. */
async function island(...args: string[]): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  const out: Buffer[] = [];
  let err = '';
  const write = process.stdout.write.bind(process.stdout);
  const writeErr = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((chunk: string | Uint8Array) => {
    out.push(Buffer.from(chunk));
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => {
    err += chunk.toString();
    return true;
  }) as typeof process.stderr.write;
  process.exitCode = undefined;
  try {
    const code = await run(['node', 'island', ...args]);
    return { code, stdout: Buffer.concat(out), stderr: err };
  } finally {
    process.stdout.write = write;
    process.stderr.write = writeErr;
    process.exitCode = undefined;
  }
}

const qemuRaw = (path: string, out: string, snapshot?: string) => {
  execFileSync('qemu-img', ['convert', ...(snapshot ? ['-l', `snapshot.name=${snapshot}`] : []), '-O', 'raw', path, out]);
  return readFileSync(out);
};

describe('island image', () => {
  const dir = mkdtempSync(join(tmpdir(), 'island-cli-image-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'disk.qcow2');

  it('creates an image and describes it as JSON with exactly the documented fields', async () => {
    expect((await island('image', 'create', path, '--size', '8M', '--cluster-size', '4096')).code).toBe(0);
    const info = await island('image', 'info', path, '--json');
    expect(info.code).toBe(0);
    expect(JSON.parse(info.stdout.toString())).toEqual({
      virtualSize: 8 << 20,
      clusterSize: 4096,
      version: 3,
      refcountBits: 16,
      dirty: false,
      corrupt: false,
      backingFile: null,
      snapshots: [],
    });
  });

  it('writes a pattern and a file, and reads back the bytes qemu-img reads', async () => {
    expect((await island('image', 'write', path, '--offset', '1M', '--pattern', '0xab', '--length', '64K')).code).toBe(0);
    const file = join(dir, 'payload');
    writeFileSync(file, Buffer.from('island writes this'));
    expect((await island('image', 'write', path, '--offset', '5000', '--from', file)).code).toBe(0);
    const raw = qemuRaw(path, join(dir, 'a.raw'));
    expect(raw.subarray(1 << 20, (1 << 20) + 65536).every((b) => b === 0xab)).toBe(true);
    expect(raw.subarray(5000, 5018).toString()).toBe('island writes this');
    const read = await island('image', 'read', path, '--offset', '4990', '--length', '30');
    expect(read.stdout).toEqual(raw.subarray(4990, 5020));
  });

  it('takes snapshots, lists them, diffs them and exports them', async () => {
    expect((await island('image', 'snapshot', 'create', path, 'one')).code).toBe(0);
    await island('image', 'write', path, '--offset', '2M', '--pattern', '0x11', '--length', '10000');
    expect((await island('image', 'snapshot', 'create', path, 'two')).code).toBe(0);
    const list = JSON.parse((await island('image', 'snapshot', 'list', path, '--json')).stdout.toString());
    expect(list.snapshots.map((s: { name: string }) => s.name)).toEqual(['one', 'two']);
    const diff = JSON.parse((await island('image', 'diff', path, '--from', 'one', '--to', 'two', '--json')).stdout.toString());
    expect(diff).toEqual({ clusterSize: 4096, extents: [{ offset: 2 << 20, length: 12288, kind: 'data' }] });
    const exported = join(dir, 'one.raw');
    expect((await island('image', 'export', path, exported, '--snapshot', 'one')).code).toBe(0);
    expect(readFileSync(exported).equals(qemuRaw(path, join(dir, 'q1.raw'), 'one'))).toBe(true);
    expect((await island('image', 'snapshot', 'revert', path, 'one')).code).toBe(0);
    expect((await island('image', 'snapshot', 'delete', path, 'two')).code).toBe(0);
    expect(qemuRaw(path, join(dir, 'b.raw')).equals(readFileSync(exported))).toBe(true);
    const check = await island('image', 'check', path, '--json');
    expect(check.code).toBe(0);
    expect(JSON.parse(check.stdout.toString())).toMatchObject({ errors: 0, leaks: 0 });
  });

  it('refuses an invalid image with exit 2 and one line naming the field', async () => {
    const bad = join(dir, 'bad.qcow2');
    const bytes = readFileSync(path);
    bytes.writeUInt32BE(30, 20); // cluster_bits
    writeFileSync(bad, bytes);
    const result = await island('image', 'info', bad, '--json');
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`island: ${bad}: cluster_bits 0x1e is outside 9..21\n`);
  });

  it('fails with exit 1 and one line for a missing file or a bad argument', async () => {
    const missing = await island('image', 'info', join(dir, 'nope.qcow2'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(`island: ${join(dir, 'nope.qcow2')}: no such file\n`);
    const badPattern = await island('image', 'write', path, '--offset', '0', '--pattern', '0x1ff', '--length', '1');
    expect(badPattern.code).toBe(1);
    expect(badPattern.stderr).toBe('island: --pattern 0x1ff is not a byte (0x00..0xff)\n');
  });
});
