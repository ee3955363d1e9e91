import { randomBytes } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Kek, KekSource } from './kek-source';
import { KEK_BYTES, kekId } from './key-wrapping';

/**
 * The default key manager: key-encryption keys in a local file, one base64 key per line, the current one first
 * (the lines after it are earlier keys a rotation has not retired yet). Made once, on purpose (`create`: `npm start`
 * does; mode 0600 in a 0700 directory), never by a process that finds it missing — a host with a wrong path would
 * otherwise seal keys no other host can open. A file others can read is refused, not used. Every process re-reads
 * it when asked for a key it does not know, so a rotation done by one process reaches the others.
 */
export class FileKekSource implements KekSource {
  readonly description: string;

  constructor(private readonly path: string) {
    this.description = `key file ${path}`;
  }

  async current(): Promise<Kek> {
    return this.read()[0];
  }

  async find(id: string): Promise<Kek | undefined> {
    return this.read().find((k) => k.id === id);
  }

  async rotate(): Promise<Kek> {
    const next = randomBytes(KEK_BYTES);
    this.write([next, ...this.read().map((k) => k.key)]);
    return { id: kekId(next), key: next };
  }

  async retireAllBut(keep: string): Promise<string[]> {
    const keks = this.read();
    const kept = keks.filter((k) => k.id === keep);
    if (kept.length === 0) throw new Error(`${this.description} does not hold KEK ${keep}: nothing retired`);
    this.write(kept.map((k) => k.key));
    return keks.filter((k) => k.id !== keep).map((k) => k.id);
  }

  /** Makes the key file with a new random KEK unless it exists; returns its current KEK. */
  static async create(path: string): Promise<Kek> {
    const source = new FileKekSource(path);
    if (!existsSync(path)) source.createFile();
    return source.current();
  }

  private read(): Kek[] {
    if (!existsSync(this.path)) {
      throw new Error(
        `${this.description} does not exist: npm start makes it; elsewhere make it once (umask 077; head -c 32 /dev/urandom | base64 > ${this.path}) and give every host's workers the same file`,
      );
    }
    const mode = statSync(this.path).mode & 0o777;
    if (mode & 0o077) throw new Error(`${this.description} can be read by others (mode ${mode.toString(8)}): chmod 600 ${this.path}`);
    const lines = readFileSync(this.path, 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
    if (lines.length === 0) throw new Error(`${this.description} is empty: it should hold a base64 32-byte key per line`);
    return lines.map((line, i) => {
      const key = Buffer.from(line, 'base64');
      if (key.length !== KEK_BYTES) throw new Error(`${this.description}, line ${i + 1}: holds ${key.length} bytes, not a ${KEK_BYTES}-byte key (base64)`);
      return { id: kekId(key), key };
    });
  }

  /** Written whole under a name of its own, then linked into place: a process starting beside this one sees the whole key or no file, and of two makers the first link wins. */
  private createFile(): void {
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    const draft = this.draft([randomBytes(KEK_BYTES)]);
    try {
      linkSync(draft, this.path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    } finally {
      unlinkSync(draft);
    }
  }

  /** Replaces the file atomically (a reader sees the old keys or the new ones). */
  private write(keys: Buffer[]): void {
    renameSync(this.draft(keys), this.path);
  }

  private draft(keys: Buffer[]): string {
    const draft = `${this.path}.${process.pid}.${randomBytes(4).toString('hex')}`;
    writeFileSync(draft, keys.map((k) => `${k.toString('base64')}\n`).join(''), { mode: 0o600, flag: 'wx' });
    return draft;
  }
}
