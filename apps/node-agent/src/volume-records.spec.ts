import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VolumeRecords } from './volume-records';

interface Record {
  volumeId: string;
  export: string | null;
}

const A = '0f1e2d3c-4b5a-4678-9abc-def012345678';
const B = '11111111-2222-4333-8444-555555555555';

describe('VolumeRecords', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'volume-records-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps one record per volume, replaced whole, and forgets it on remove', async () => {
    const records = new VolumeRecords<Record>(join(dir, 'served'));
    expect(await records.all()).toEqual([]);
    await records.save({ volumeId: A, export: 'nbd' });
    await records.save({ volumeId: B, export: 'block' });
    await records.save({ volumeId: A, export: null });
    expect(await records.get(A)).toEqual({ volumeId: A, export: null });
    expect((await records.all()).sort((x, y) => x.volumeId.localeCompare(y.volumeId))).toEqual([
      { volumeId: A, export: null },
      { volumeId: B, export: 'block' },
    ]);
    await records.remove(A);
    expect(await records.get(A)).toBeUndefined();
    expect(readdirSync(join(dir, 'served'))).toEqual([`${B}.json`]);
  });

  it('lists neither a record half written when the agent died nor a file that is not named by a volume id', async () => {
    const records = new VolumeRecords<Record>(dir);
    await records.save({ volumeId: B, export: 'raw' });
    writeFileSync(join(dir, `${A}.json.partial`), '{"volumeId":');
    writeFileSync(join(dir, 'notes.json'), '{}');
    expect(await records.all()).toEqual([{ volumeId: B, export: 'raw' }]);
    expect(await records.get('../escape')).toBeUndefined();
  });

  it('lists the records it can read when another is damaged, and names the damaged one', async () => {
    const unreadable: string[] = [];
    const records = new VolumeRecords<Record>(dir, (path, error) => unreadable.push(`${path}: ${error.name}`));
    await records.save({ volumeId: B, export: 'nbd' });
    writeFileSync(join(dir, `${A}.json`), ''); // e.g. emptied by a file system that lost it
    expect(await records.all()).toEqual([{ volumeId: B, export: 'nbd' }]);
    expect(unreadable).toEqual([`${join(dir, `${A}.json`)}: SyntaxError`]);
    await expect(records.get(A)).rejects.toThrow(SyntaxError);
  });
});
