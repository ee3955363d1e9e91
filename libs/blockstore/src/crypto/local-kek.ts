import { randomBytes } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { KEK_BYTES } from './key-wrapping';

/**
 * The default key manager: a key-encryption key in a local file (base64, one line), made on first use with mode
 * 0600 in a 0700 directory. A file others can read is refused, not used.
 */
export function loadOrCreateLocalKek(path: string): Buffer {
  if (!existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    // written whole under a name of its own, then linked into place: a process starting beside this one sees the
    // full key or no file, and of two makers the first link wins (the other reads its key below)
    const kek = randomBytes(KEK_BYTES);
    const draft = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
    writeFileSync(draft, `${kek.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
    try {
      linkSync(draft, path);
      return kek;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    } finally {
      unlinkSync(draft);
    }
  }
  const mode = statSync(path).mode & 0o777;
  if (mode & 0o077) throw new Error(`key file ${path} can be read by others (mode ${mode.toString(8)}): chmod 600 ${path}`);
  const kek = Buffer.from(readFileSync(path, 'utf8').trim(), 'base64');
  if (kek.length !== KEK_BYTES) throw new Error(`key file ${path} holds ${kek.length} bytes, not a ${KEK_BYTES}-byte key (base64)`);
  return kek;
}
