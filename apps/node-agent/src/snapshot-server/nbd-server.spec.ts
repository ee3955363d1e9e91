import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { NbdExport, NbdServer } from './nbd-server';

const run = promisify(execFile);
const MIB = 1 << 20;

/** A disk whose block b holds byte b + 1; reads of block `bad` fail. */
function patternDisk(blocks: number, bad = -1): NbdExport & { reads: number } {
  return {
    size: blocks * MIB,
    preferredBlockSize: MIB,
    reads: 0,
    async read(offset, length) {
      this.reads++;
      const out = Buffer.alloc(length);
      for (let i = 0; i < length; i++) {
        const block = Math.floor((offset + i) / MIB);
        if (block === bad) throw new Error('block 5 is unreadable');
        out[i] = block + 1;
      }
      return out;
    },
  };
}

async function qemuIo(uri: string, command: string): Promise<string> {
  try {
    const { stdout, stderr } = await run('qemu-io', ['-f', 'raw', '-r', '-c', command, uri]);
    return stdout + stderr;
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string };
    return `${e.stdout ?? ''}${e.stderr ?? ''}`;
  }
}

describe('the read-only NBD server, with QEMU as its client', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nbd-server-'));
  const socket = join(dir, 'nbd.sock');
  const done: Buffer[] = [];
  const tracked: NbdExport = { ...patternDisk(8), read: (offset, length) => patternDisk(8).read(offset, length), readDone: (reply) => done.push(reply) };
  const disks: Record<string, NbdExport> = { disk: patternDisk(8, 5), whole: patternDisk(8), tracked };
  const server = new NbdServer(socket, async (name) => disks[name]);
  const uri = (name: string) => `nbd+unix:///${name}?socket=${socket}`;

  beforeAll(() => server.listen());
  afterAll(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers reads across block boundaries with the export’s bytes', async () => {
    expect(await qemuIo(uri('disk'), `read -P 3 ${2 * MIB} ${MIB}`)).toMatch(/read 1048576\/1048576 bytes/);
    const out = await qemuIo(uri('disk'), `read -v ${2 * MIB - 4} 8`);
    expect(out).toMatch(/02 02 02 02 03 03 03 03/);
  });

  it('serves the whole disk to qemu-img convert, byte for byte', async () => {
    const raw = join(dir, 'copy.raw');
    await run('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', uri('whole'), raw]);
    const copy = readFileSync(raw);
    expect(copy.length).toBe(8 * MIB);
    for (let b = 0; b < 8; b++) expect(copy.subarray(b * MIB, (b + 1) * MIB).every((x) => x === b + 1)).toBe(true);
  });

  it('answers a read that fails with an I/O error, never with other bytes', async () => {
    expect(await qemuIo(uri('disk'), `read ${5 * MIB} 4096`)).toMatch(/Input\/output error/);
  });

  it('refuses writes to a read-only export', async () => {
    const out = await run('qemu-io', ['-f', 'raw', '-c', 'write -P 9 0 4096', uri('disk')]).then(
      (r) => r.stdout + r.stderr,
      (e: { stdout?: string; stderr?: string }) => `${e.stdout ?? ''}${e.stderr ?? ''}`,
    );
    expect(out).toMatch(/read.only|Permission denied|Operation not permitted/i);
    expect(await qemuIo(uri('disk'), 'read -P 1 0 4096')).toMatch(/read 4096\/4096 bytes/);
  });

  it('tells a client that names an unknown export that it does not exist', async () => {
    expect(await qemuIo(uri('other'), 'read 0 512')).toMatch(/export|not (found|available)|unknown/i);
  });

  it('tells the export each reply it wrote, so that the memory behind it can be reused', async () => {
    expect(await qemuIo(uri('tracked'), `read -P 2 ${MIB} 65536`)).toMatch(/read 65536\/65536 bytes/);
    for (let waited = 0; done.length === 0 && waited < 1_000; waited += 10) await new Promise((r) => setTimeout(r, 10));
    expect(done.map((reply) => reply.length)).toEqual([65536]);
  });
});
