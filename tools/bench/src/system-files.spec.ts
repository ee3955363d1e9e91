import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { systemFileData } from './system-files';

/** The first two regular, non-empty files directly in /usr/bin, in name order: what systemFileData starts with. */
function firstTwoFiles(): Buffer[] {
  const entries = readdirSync('/usr/bin', { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const files: Buffer[] = [];
  for (const entry of entries) {
    if (!entry.isFile()) continue; // a directory's files would come first; /usr/bin has none
    const data = readFileSync(join('/usr/bin', entry.name));
    if (data.length > 0) files.push(data);
    if (files.length === 2) break;
  }
  return files;
}

describe('compressible data from the machine’s own files', () => {
  it('lays the files end to end in path order, each from a 4 KiB boundary with zeros after its end, across chunks', () => {
    const [first, second] = firstTwoFiles();
    const secondAt = Math.ceil(first.length / 4096) * 4096;
    const wanted = secondAt + second.length;
    const next = systemFileData();
    const joined = Buffer.concat([next(Math.floor(wanted / 3)), next(wanted - Math.floor(wanted / 3))]);
    expect(joined.subarray(0, first.length).equals(first)).toBe(true);
    expect(joined.subarray(first.length, secondAt).every((b) => b === 0)).toBe(true);
    expect(joined.subarray(secondAt, wanted).equals(second)).toBe(true);
  });
});
