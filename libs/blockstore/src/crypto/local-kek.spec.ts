import { chmodSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileKekSource } from './local-kek';

describe('the local key file', () => {
  const dir = () => mkdtempSync(join(tmpdir(), 'island-kek-'));

  it('is made once on purpose, owner-only, never by a process that finds it missing, and gives the same key afterwards', async () => {
    const path = join(dir(), 'keys', 'kek');
    await expect(new FileKekSource(path).current()).rejects.toThrow(`key file ${path} does not exist: npm start makes it`);
    const kek = await FileKekSource.create(path);
    expect((await FileKekSource.create(path)).id).toBe(kek.id);
    expect(kek.key).toHaveLength(32);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(path, '..')).mode & 0o777).toBe(0o700);
    expect((await new FileKekSource(path).current()).key.equals(kek.key)).toBe(true);
    expect(readFileSync(path, 'utf8').trim()).toBe(kek.key.toString('base64'));
    expect(readdirSync(join(path, '..'))).toEqual(['kek']); // its draft is gone
  });

  it('rotates to a new current key, finds the previous one until it is retired', async () => {
    const path = join(dir(), 'kek');
    const source = new FileKekSource(path);
    const first = await FileKekSource.create(path);
    const second = await source.rotate();
    expect(second.id).not.toBe(first.id);
    expect((await source.current()).id).toBe(second.id);
    expect((await new FileKekSource(path).find(first.id))?.key.equals(first.key)).toBe(true);
    expect(await source.retireAllBut(second.id)).toEqual([first.id]);
    expect(await source.find(first.id)).toBeUndefined();
    expect(statSync(path).mode & 0o777).toBe(0o600);
    await expect(source.retireAllBut(first.id)).rejects.toThrow(`does not hold KEK ${first.id}`);
  });

  it('is refused when others can read it, or when a line holds no 32-byte key', async () => {
    const path = join(dir(), 'kek');
    const source = new FileKekSource(path);
    await FileKekSource.create(path);
    chmodSync(path, 0o644);
    await expect(source.current()).rejects.toThrow(/can be read by others \(mode 644\): chmod 600/);
    writeFileSync(path, 'c2hvcnQ=\n', { mode: 0o600 });
    chmodSync(path, 0o600);
    await expect(source.current()).rejects.toThrow(/line 1: holds 5 bytes, not a 32-byte key/);
  });
});
