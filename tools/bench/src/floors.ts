import { execFileSync, spawn } from 'node:child_process';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { closeSync, constants, fdatasyncSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { CCtx, CParameter, compressBound, DCtx } from 'zstd-napi/binding';
import { aead, BLOCK_ZSTD_LEVEL, blockBuffers, blockMemoryAligned, md5Many } from '@island/blockstore';
import { cpuSeconds, GIB, medianOf, MIB, overOneGiB } from './cpu';
import { systemFileData } from './system-files';

/** Distinct 1 MiB blocks cycled through for the floors (1 GiB of work, 64 MiB of memory). */
export const SAMPLE_BLOCKS = 64;
export const FLOOR_ROUNDS = 3;

/** CPU seconds per GiB, on one core of this process, of what island must compute per block: the floors. */
export interface Floors {
  hmac: number;
  sha256: number;
  md5: number;
  /** MD5 as island's snapshots compute it: md5Many over batches of MD5_BATCH blocks (vector lanes where the addon is built). */
  md5Lanes: number;
  seal: number;
  open: number;
}

/** Blocks hashed together by md5Many in the floor: a snapshot's full batch of 1 MiB blocks (upload-batches.ts). */
export const MD5_BATCH = 32;

/** Random 1 MiB sample blocks. */
export function sampleBlocks(): Buffer[] {
  return Array.from({ length: SAMPLE_BLOCKS }, () => randomBytes(MIB));
}

/** Median CPU seconds of FLOOR_ROUNDS rounds of `work` over 1 GiB of `items` (cycled), each of `mibEach` MiB of content. */
function perGiB<T>(items: T[], work: (item: T) => unknown, mibEach = 1): number {
  return medianOf(FLOOR_ROUNDS, () => cpuSeconds(() => overOneGiB(items, work, mibEach)));
}

const hmacOf = (key: Buffer) => (b: Buffer) => createHmac('sha256', key).update(b).digest();
const md5Of = (b: Buffer) => createHash('md5').update(b).digest();

/**
 * The cipher's floors over `payloads`: sealing each, and opening each sealed one, into one reused output, as island's
 * processes do with `aead` (island's addon, writing into given memory, where it is built).
 */
function cipherFloors(payloads: Buffer[], key: Buffer): { seal: number; open: number } {
  const nonce = randomBytes(12);
  const associatedData = Buffer.alloc(0);
  const sealed = payloads.map((p) => {
    const object = Buffer.allocUnsafe(p.length + 16);
    aead.seal(key, nonce, associatedData, p, object);
    return object;
  });
  const output = Buffer.allocUnsafeSlow(Math.max(...payloads.map((p) => p.length)) + 16);
  return {
    seal: perGiB(payloads, (p) => aead.seal(key, randomBytes(12), associatedData, p, output.subarray(0, p.length + 16))),
    open: perGiB(sealed, (s) => {
      if (!aead.open(key, nonce, associatedData, s, output.subarray(0, s.length - 16))) throw new Error('a floor sample did not open');
    }),
  };
}

/** Medians of FLOOR_ROUNDS rounds of each primitive over 1 GiB of `blocks`, with `key` (32 bytes). */
export function measureFloors(blocks: Buffer[], key: Buffer): Floors {
  return {
    hmac: perGiB(blocks, hmacOf(key)),
    sha256: perGiB(blocks, (b) => createHash('sha256').update(b).digest()),
    md5: perGiB(blocks, md5Of),
    md5Lanes: md5LanesPerGiB(blocks),
    ...cipherFloors(blocks, key),
  };
}

/** md5Many over `blocks` (each of 1 MiB of content) in batches of MD5_BATCH, per GiB. */
function md5LanesPerGiB(blocks: Buffer[]): number {
  const batches: Buffer[][] = [];
  for (let at = 0; at + MD5_BATCH <= blocks.length; at += MD5_BATCH) batches.push(blocks.slice(at, at + MD5_BATCH));
  return perGiB(batches, (batch) => md5Many.hex(batch), MD5_BATCH);
}

/**
 * CPU seconds per GiB of plain content, on one core, of what island must compute for compressible blocks: named
 * (HMAC) and compressed from the plain bytes; checksummed (MD5), sealed and opened as the compressed bytes; decompressed
 * back. `ratio`: compressed bytes per plain byte.
 */
export interface CompressibleFloors {
  hmac: number;
  compress: number;
  md5: number;
  md5Lanes: number;
  seal: number;
  open: number;
  decompress: number;
  ratio: number;
}

/**
 * The compressible floors on SAMPLE_BLOCKS blocks spread evenly over the first GiB of systemFileData (what the bench's
 * compressible volume holds): what measureCompressibleFloorsApart runs in its own process.
 */
export function measureSampleCompressibleFloors(): CompressibleFloors {
  const next = systemFileData();
  const blocks: Buffer[] = [];
  for (let i = 0; i < GIB / MIB; i++) {
    const block = next(MIB);
    if (i % (GIB / MIB / SAMPLE_BLOCKS) === 0) blocks.push(block);
  }
  const key = randomBytes(32);
  const compressor = new CCtx();
  compressor.setParameter(CParameter.compressionLevel, BLOCK_ZSTD_LEVEL);
  const scratch = Buffer.allocUnsafeSlow(compressBound(MIB));
  const compressed = blocks.map((b) => Buffer.from(scratch.subarray(0, compressor.compress2(scratch, b))));
  const ratio = compressed.reduce((sum, c) => sum + c.length, 0) / (blocks.length * MIB);
  const output = Buffer.allocUnsafeSlow(MIB);
  const decompressor = new DCtx();
  return {
    hmac: perGiB(blocks, hmacOf(key)),
    compress: perGiB(blocks, (b) => compressor.compress2(scratch, b)),
    md5: perGiB(compressed, md5Of),
    md5Lanes: md5LanesPerGiB(compressed),
    ...cipherFloors(compressed, key),
    decompress: perGiB(compressed, (c) => {
      if (decompressor.decompress(output, c) !== MIB) throw new Error('a floor sample did not decompress to its size');
    }),
    ratio,
  };
}

/** The compressible floors in a new node process started with FLOOR_MALLOC_TUNABLES, as measureFloorsApart. */
export function measureCompressibleFloorsApart(): CompressibleFloors {
  return runWithFloorAllocator<CompressibleFloors>(__filename, 'measureSampleCompressibleFloors');
}

/**
 * glibc's allocator settings the floors are measured under (GLIBC_TUNABLES, read when a process starts). node:crypto
 * allocates each cipher call's 1 MiB output with malloc (island's addon, where built, writes into given memory instead); with glibc's defaults that memory went back to the kernel before the
 * next call, so every output faulted in 256 fresh pages (200–260 minor faults per MiB) and the measured "floor" of
 * AES-256-GCM was 1.7–2.4 CPU-s per GiB against 0.24 in `openssl speed` (docs/performance.md, "The floors counted page
 * faults"). Kept in the heap, the memory is reused: what is left is the primitive's cost.
 */
export const FLOOR_MALLOC_TUNABLES = 'glibc.malloc.mmap_threshold=4194304:glibc.malloc.trim_threshold=134217728';

/**
 * Runs `exportName` of the compiled module `file` (a function without arguments returning JSON) in a new node process
 * started with FLOOR_MALLOC_TUNABLES, and returns its result: measurements of primitives in process, without the page
 * faults glibc's defaults add to every 1 MiB output.
 */
export function runWithFloorAllocator<T>(file: string, exportName: string): T {
  const script = `process.stdout.write(JSON.stringify(require(${JSON.stringify(file)})[${JSON.stringify(exportName)}]()));`;
  const out = execFileSync(process.execPath, ['-e', script], {
    env: { ...process.env, GLIBC_TUNABLES: FLOOR_MALLOC_TUNABLES },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return JSON.parse(out) as T;
}

/** The floors on random sample blocks and key: what measureFloorsApart runs in its own process. */
export function measureSampleFloors(): Floors {
  return measureFloors(sampleBlocks(), randomBytes(32));
}

/**
 * The floors measured in a new node process started with FLOOR_MALLOC_TUNABLES (island's processes, launched as
 * deployed, pool their block memory instead: the bench reports their page faults).
 */
export function measureFloorsApart(): Floors {
  return runWithFloorAllocator<Floors>(__filename, 'measureSampleFloors');
}

/** What writing 1 GiB of image costs the kernel, in CPU seconds of the writing process (see measureDiskWrite). */
export interface DiskWriteCost {
  /** Into page-cache memory the kernel freed just before (the previous round's file, deleted): median of FLOOR_ROUNDS. */
  reusedMemory: number;
  /** While the earlier rounds' files stay cached, so that the page cache grows into memory free for a while: median of FLOOR_ROUNDS. */
  grownCache: number;
  /**
   * Past the page cache (O_DIRECT) from page-aligned memory, as a restore writes its blocks: median of FLOOR_ROUNDS;
   * NaN where island's addon (which aligns block memory) is not built or the file system refuses O_DIRECT.
   */
  pastPageCache: number;
}

/**
 * CPU seconds (this process, user + system: the kernel's page-cache copy, block allocation and the writeback it does
 * for fdatasync) to write 1 GiB of `blocks` into a new file in `dir` in 1 MiB writes, then fdatasync it: what a
 * restore also pays to put its image on the disk, beyond the floors. Measured twice, as the kernel's memory stands
 * matters on a virtual machine whose hypervisor takes back the memory its guest leaves free (free page reporting):
 * writing into memory freed a moment ago costs the copy, writing into memory that was free for seconds costs the
 * hypervisor's fault on every page first (docs/performance.md, "The page cache on memory the hypervisor took back").
 */
export function measureDiskWrite(blocks: Buffer[], dir: string): DiskWriteCost {
  const file = (n: number) => join(dir, `disk-write-reference-${n}`);
  const writeGiB = (path: string, flags: string | number = 'w', from = blocks) =>
    cpuSeconds(() => {
      const fd = openSync(path, flags, 0o600);
      try {
        for (let at = 0, i = 0; at < GIB; at += MIB, i++) writeSync(fd, from[i % from.length], 0, MIB, at);
        fdatasyncSync(fd);
      } finally {
        closeSync(fd);
      }
    });
  try {
    writeGiB(file(0)); // the memory the next round frees and reuses
    let round = 0;
    const reusedMemory = medianOf(FLOOR_ROUNDS, () => {
      rmSync(file(round), { force: true });
      return writeGiB(file(++round));
    });
    const grownCache = medianOf(FLOOR_ROUNDS, () => writeGiB(file(++round)));
    return { reusedMemory, grownCache, pastPageCache: pastPageCache(blocks, file(++round), writeGiB) };
  } finally {
    for (let n = 0; n <= FLOOR_ROUNDS * 2 + 2; n++) rmSync(file(n), { force: true });
  }
}

function pastPageCache(blocks: Buffer[], path: string, writeGiB: (path: string, flags: number, from: Buffer[]) => number): number {
  const aligned = blocks.slice(0, 8).map((block) => {
    const memory = blockBuffers.take(MIB);
    block.copy(memory, 0, 0, MIB);
    return memory;
  });
  if (!aligned.every((memory) => blockMemoryAligned?.(memory))) return NaN;
  try {
    return medianOf(FLOOR_ROUNDS, () => writeGiB(path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_DIRECT, aligned));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EINVAL') return NaN;
    throw error;
  } finally {
    for (const memory of aligned) blockBuffers.giveBack(memory);
  }
}

/**
 * The same floors while another process keeps the machine's other core busy hashing 1 MiB buffers: whether a hash
 * costs more CPU when the core beside it works, as island's processes always run beside Swift here.
 */
export function measureFloorsBesideLoad(): Floors {
  const load = spawn(
    process.execPath,
    ['-e', "const c = require('node:crypto'); const b = c.randomBytes(1 << 20); for (;;) c.createHash('sha1').update(b).digest();"],
    {
      stdio: 'ignore',
    },
  );
  try {
    return measureFloorsApart();
  } finally {
    load.kill('SIGKILL');
  }
}
