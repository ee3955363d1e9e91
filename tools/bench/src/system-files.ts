import { Dirent, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Where the files come from, in this order: what a Linux guest's root file system mostly holds. */
const ROOTS = ['/usr/bin', '/usr/lib', '/usr/share'];
/** A file system's block: each file starts at a multiple of it, the rest of its last block zeros. */
const FS_BLOCK = 4096;

function* filesUnder(dir: string): Generator<string> {
  let entries: Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  } catch {
    return; // unreadable: skipped, as any file that cannot be read
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* filesUnder(path);
    else if (entry.isFile()) yield path;
  }
}

/**
 * Compressible data as a guest's disk holds it: this machine's own programs, libraries and shared files (ROOTS), in
 * path order, each starting at a 4 KiB boundary as a file system places them. Each call gives the next `length` bytes;
 * it throws once the files run out rather than repeat them (repeated blocks would be deduplicated, not compressed).
 */
export function systemFileData(): (length: number) => Buffer {
  const files = (function* () {
    for (const root of ROOTS) yield* filesUnder(root);
  })();
  let carry = Buffer.alloc(0); // what the last file left beyond the last chunk, with its padding
  let given = 0;
  return (length) => {
    const chunk = Buffer.alloc(length);
    let at = carry.copy(chunk);
    carry = carry.subarray(at);
    while (at < length) {
      const next = files.next();
      if (next.done) throw new Error(`the files under ${ROOTS.join(', ')} hold ${given + at} bytes: fewer than the ${given + length} asked for`);
      let data: Buffer;
      try {
        data = readFileSync(next.value);
      } catch {
        continue;
      }
      if (data.length === 0) continue;
      const padded = Buffer.alloc(Math.ceil(data.length / FS_BLOCK) * FS_BLOCK);
      data.copy(padded);
      const used = padded.copy(chunk, at);
      at += used;
      carry = padded.subarray(used);
    }
    given += length;
    return chunk;
  };
}
