import { createHash } from 'node:crypto';
import { RegionBlock } from '@island/catalog';
import { BlocksInHashOrder, MergedBlock } from './blocks-in-hash-order';

const hashOf = (n: number) => createHash('sha256').update(`block ${n}`).digest();
const row = (hash: Buffer): RegionBlock => ({ hash, state: 'present', storedSize: 100, projectId: null, damagedReason: null });

/** Swift's listing of `hashes` as block objects (sorted by name, as Swift lists), with a few other names among them. */
async function* listingOf(hashes: Buffer[], read: string[]): AsyncGenerator<{ name: string; bytes: number }> {
  const names = [...hashes.map((h) => `blocks/${h.toString('hex')}`), 'blocks/not-a-block', 'blocks/0'].sort();
  for (const name of names) {
    read.push(name);
    yield { name, bytes: 100 };
  }
}

/** The catalog's rows of `hashes`, a range at a time, recording each range asked for and what the listing had read by then. */
function catalogOf(hashes: Buffer[], read: string[], asked: { upTo: Buffer | null; listedSoFar: number }[]) {
  const rows = [...hashes].sort(Buffer.compare).map(row);
  return async (after: Buffer | null, upTo: Buffer | null, limit: number) => {
    asked.push({ upTo, listedSoFar: read.length });
    return rows.filter((r) => (after === null || Buffer.compare(r.hash, after) > 0) && (upTo === null || Buffer.compare(r.hash, upTo) <= 0)).slice(0, limit);
  };
}

async function all(merge: BlocksInHashOrder): Promise<MergedBlock[]> {
  const out: MergedBlock[] = [];
  for await (const b of merge.blocks()) out.push(b);
  return out;
}

describe('BlocksInHashOrder', () => {
  const everything = Array.from({ length: 200 }, (_, i) => hashOf(i));
  const inSwift = everything.filter((_, i) => i % 3 !== 0); // every third only in the catalog
  const inCatalog = everything.filter((_, i) => i % 5 !== 0); // every fifth only in Swift (or in neither)

  it('yields every block of either side once, in hash order, saying which side has it, whatever the chunk size', async () => {
    for (const chunk of [1, 3, 7, 1000]) {
      const read: string[] = [];
      const merged = await all(new BlocksInHashOrder(listingOf(inSwift, read), catalogOf(inCatalog, read, []), chunk));
      const expected = everything
        .filter((_, i) => i % 3 !== 0 || i % 5 !== 0)
        .sort(Buffer.compare)
        .map((hash) => ({
          hash: hash.toString('hex'),
          listed: inSwift.some((h) => h.equals(hash)),
          row: inCatalog.some((h) => h.equals(hash)),
        }));
      expect(merged.map((b) => ({ hash: b.hash.toString('hex'), listed: b.listedBytes === 100, row: b.row !== undefined }))).toEqual(expected);
    }
  });

  it('reads each chunk of the listing before the catalog rows in its range', async () => {
    const read: string[] = [];
    const asked: { upTo: Buffer | null; listedSoFar: number }[] = [];
    const merge = new BlocksInHashOrder(listingOf(inSwift, read), catalogOf(inCatalog, read, asked), 10);
    await merge.start();
    expect(read.length).toBeGreaterThanOrEqual(10);
    expect(asked).toEqual([]);
    await all(merge);
    expect(asked.length).toBeGreaterThan(10);
    for (const { upTo, listedSoFar } of asked) {
      // the listing had reached the range's upper bound (or its end) before the rows below it were read
      if (upTo === null) expect(listedSoFar).toBe(inSwift.length + 2);
      else expect(read.slice(0, listedSoFar)).toContain(`blocks/${upTo.toString('hex')}`);
    }
  });

  it('pages the catalog within one chunk of the listing when the catalog holds many more blocks', async () => {
    const read: string[] = [];
    const asked: { upTo: Buffer | null; listedSoFar: number }[] = [];
    const merged = await all(new BlocksInHashOrder(listingOf([], read), catalogOf(everything, read, asked), 16));
    expect(merged.map((b) => b.hash.toString('hex'))).toEqual([...everything].sort(Buffer.compare).map((h) => h.toString('hex')));
    expect(merged.every((b) => b.listedBytes === undefined)).toBe(true);
    expect(asked.length).toBe(Math.floor(200 / 16) + 1); // full pages, then the short last one
  });
});
