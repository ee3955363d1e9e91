import { chmodSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadOrCreateLocalKek } from './local-kek';

describe('the local key file', () => {
  const dir = () => mkdtempSync(join(tmpdir(), 'island-kek-'));

  it('is made on first use, owner-only, and gives the same key afterwards', () => {
    const path = join(dir(), 'keys', 'kek');
    const kek = loadOrCreateLocalKek(path);
    expect(kek).toHaveLength(32);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(path, '..')).mode & 0o777).toBe(0o700);
    expect(loadOrCreateLocalKek(path).equals(kek)).toBe(true);
    expect(readFileSync(path, 'utf8').trim()).toBe(kek.toString('base64'));
    expect(readdirSync(join(path, '..'))).toEqual(['kek']); // its draft is gone
  });

  it('is refused when others can read it, or when it holds no 32-byte key', () => {
    const path = join(dir(), 'kek');
    loadOrCreateLocalKek(path);
    chmodSync(path, 0o644);
    expect(() => loadOrCreateLocalKek(path)).toThrow(/can be read by others \(mode 644\): chmod 600/);
    writeFileSync(path, 'c2hvcnQ=\n', { mode: 0o600 });
    chmodSync(path, 0o600);
    expect(() => loadOrCreateLocalKek(path)).toThrow(/holds 5 bytes, not a 32-byte key/);
  });
});
