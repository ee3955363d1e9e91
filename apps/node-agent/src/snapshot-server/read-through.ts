/**
 * A child process of the agent (CopyOnReadFills) that fills an image served through its copy-on-read filter: it reads
 * each block the snapshot holds once through the volume's FUSE export, which makes QEMU keep the block in the image.
 * Holes are skipped: a hole and an unallocated cluster both read as zeros once the image lets go of the snapshot.
 * Reads use O_DIRECT, so that each reaches the storage daemon (not the page cache) and none evicts the guest's pages.
 *
 * Not in the agent: a read of a FUSE file cannot be interrupted once QEMU has it, even by SIGKILL, and QEMU answers
 * it only when the agent's snapshot server has the block — an agent making these reads could not be killed while its
 * server was gone, and the reads would hold the threads its server needs.
 *
 * Output, one JSON line each: `{"readThrough": n}` once blocks [0, n) are read and flushed (an fsync of the export is a
 * flush of the image in the daemon), `{"doneBytes": b}` as it goes, and `{"readThrough": total, "done": true}` at the
 * end. A failure is one line on stderr and exit status 1.
 */
import { constants } from 'node:fs';
import { FileHandle, open } from 'node:fs/promises';

export interface ReadThroughArgs {
  rawPath: string;
  mapPath: string;
  blockSize: number;
  snapshotBytes: number;
  volumeBytes: number;
  /** The first block to read (those before are known read). */
  from: number;
}

/** Blocks whose names are read from the block map at a time. */
const MAP_RUN = 1024;
/** Blocks read at once: the snapshot server fetches them from Swift in parallel. */
const PARALLEL_READS = 4;
const FLUSH_EVERY_MS = 2_000;
const NAME_BYTES = 32;

export async function readThrough(args: ReadThroughArgs, report: (line: object) => void): Promise<void> {
  const blocks = Math.ceil(args.snapshotBytes / args.blockSize);
  const map = await open(args.mapPath, 'r');
  let disk: FileHandle | undefined;
  try {
    const exported = await open(args.rawPath, constants.O_RDONLY | constants.O_DIRECT);
    disk = exported;
    const names = Buffer.alloc(MAP_RUN * NAME_BYTES);
    const buffers = Array.from({ length: PARALLEL_READS }, () => Buffer.alloc(args.blockSize));
    let flushedAt = Date.now();
    for (let first = args.from; first < blocks; first += MAP_RUN) {
      const count = Math.min(MAP_RUN, blocks - first);
      await readExactly(map, names, count * NAME_BYTES, first * NAME_BYTES, 'the block map');
      const wanted: number[] = [];
      for (let i = 0; i < count; i++) if (!isHole(names, i)) wanted.push(first + i);
      for (let at = 0; at < wanted.length; at += PARALLEL_READS) {
        const batch = wanted.slice(at, at + PARALLEL_READS);
        await Promise.all(batch.map((index, i) => readBlock(exported, args, index, buffers[i])));
        report({ doneBytes: Math.min(args.volumeBytes, (batch[batch.length - 1] + 1) * args.blockSize) });
        if (Date.now() - flushedAt >= FLUSH_EVERY_MS) {
          await flush(exported);
          flushedAt = Date.now();
          report({ readThrough: batch[batch.length - 1] + 1 });
        }
      }
    }
    await flush(exported); // what QEMU copied is on disk before the image may let go of the snapshot
    report({ readThrough: blocks, done: true });
  } finally {
    await disk?.close();
    await map.close();
  }
}

async function readBlock(disk: FileHandle, args: ReadThroughArgs, index: number, buffer: Buffer): Promise<void> {
  const offset = index * args.blockSize;
  const length = Math.min(args.blockSize, args.volumeBytes - offset);
  try {
    await readExactly(disk, buffer, length, offset, 'the export');
  } catch (error) {
    throw new Error(`block ${index} (bytes ${offset}–${offset + length}) could not be read through the export: ${(error as Error).message}`);
  }
}

async function readExactly(file: FileHandle, buffer: Buffer, length: number, position: number, what: string): Promise<void> {
  for (let done = 0; done < length;) {
    const { bytesRead } = await file.read(buffer, done, length - done, position + done);
    if (bytesRead === 0) throw new Error(`${what} ended after ${done} of ${length} bytes at ${position}`);
    done += bytesRead;
  }
}

async function flush(disk: FileHandle): Promise<void> {
  try {
    await disk.sync();
  } catch (error) {
    throw new Error(`flushing the image through its export failed: ${(error as Error).message}`);
  }
}

function isHole(names: Buffer, i: number): boolean {
  for (let b = i * NAME_BYTES; b < (i + 1) * NAME_BYTES; b++) if (names[b] !== 0) return false;
  return true;
}

if (require.main === module) {
  const args = JSON.parse(process.argv[2] ?? '{}') as ReadThroughArgs;
  readThrough(args, (line) => process.stdout.write(`${JSON.stringify(line)}\n`)).then(
    () => process.exit(0),
    (error: Error) => {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    },
  );
}
