import { ByteReader } from './byte-reader';
import { CorruptObjectError } from './blockstore-errors';
import { ProjectKeys } from './crypto/project-keys';
import { ManifestEntry, ManifestHeader } from './manifest';
import { openStreamedManifest, sealedManifestSegments } from './streamed-manifest-codec';

const NAME = 'manifests/vol/0000000001-snap';
const keys = new ProjectKeys('demo', ProjectKeys.newMasterKey());
const metadata = { volumeId: 'vol', snapshotId: 'snap', projectId: 'demo', region: 'RegionOne', seq: 1, createdAt: '', name: '', volumeName: '' };

function manifestOf(entryCount: number): { header: ManifestHeader; entries: () => AsyncGenerator<ManifestEntry[]> } {
  const header = { blockSize: 4096, volumeSize: 4096 * (entryCount * 3 + 1), metadata, entryCount };
  async function* entries() {
    for (let k = 0; k < entryCount; k += 500) {
      yield Array.from({ length: Math.min(500, entryCount - k) }, (_, i) => ({ index: (k + i) * 3, hash: Buffer.alloc(32, (k + i) % 256) }));
    }
  }
  return { header, entries };
}

async function segmentsOf(entryCount: number, keysUsed = keys, name = NAME): Promise<Buffer[]> {
  const { header, entries } = manifestOf(entryCount);
  const out: Buffer[] = [];
  for await (const segment of sealedManifestSegments(header, entries(), keysUsed, name)) out.push(segment);
  return out;
}

async function readAll(object: Buffer[], name = NAME): Promise<{ header: ManifestHeader; entries: ManifestEntry[] }> {
  const { header, batches } = await openStreamedManifest(new ByteReader(object), keys, name, `container/${name}`);
  const entries: ManifestEntry[] = [];
  for await (const batch of batches) entries.push(...batch);
  return { header, entries };
}

describe('the streamed manifest (format 3)', () => {
  it('round-trips header and entries across segments of at most 1 MiB each', async () => {
    const segments = await segmentsOf(70_000); // 2.2 MB of names: three segments
    expect(segments).toHaveLength(3);
    for (const segment of segments) expect(segment.length).toBeLessThanOrEqual((1 << 20) + 40);
    const { header, entries } = await readAll(segments);
    expect(header).toEqual(manifestOf(70_000).header);
    expect(entries).toHaveLength(70_000);
    expect(entries[69_999]).toEqual({ index: 69_999 * 3, hash: Buffer.alloc(32, 69_999 % 256) });
  });

  it('reads an object however the network cuts it into chunks', async () => {
    const object = Buffer.concat(await segmentsOf(40_000));
    const chunks: Buffer[] = [];
    for (let at = 0; at < object.length; at += 7919) chunks.push(object.subarray(at, at + 7919));
    expect((await readAll(chunks)).entries).toHaveLength(40_000);
  });

  it('writes a manifest without entries as one last segment', async () => {
    const segments = await segmentsOf(0);
    expect(segments).toHaveLength(1);
    expect((await readAll(segments)).entries).toEqual([]);
  });

  it.each<[string, (segments: Buffer[]) => Buffer[], string]>([
    ['its segments swapped', ([a, b, c]) => [b, a, c], 'segment 0: does not authenticate'],
    ['its last segment dropped', (s) => s.slice(0, 2), 'segment 1: does not authenticate'],
    ['a segment added after the last', (s) => [...s, s[1]], 'segment 2: does not authenticate'],
    ['a bit flipped', (s) => [s[0], flip(s[1], 5000), s[2]], 'segment 1: does not authenticate'],
    ['a cut inside a segment', (s) => [s[0], s[1].subarray(0, 1000)], 'segment 1: the object is cut short'],
    ['a segment length forged', (s) => [s[0], forgeLength(s[1]), s[2]], 'segment 1: says 33554432 bytes, more than a segment holds'],
  ])('refuses an object with %s, naming the segment', async (_what, tamper, problem) => {
    const segments = await segmentsOf(70_000);
    const error = await readAll(tamper(segments)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CorruptObjectError);
    expect((error as Error).message).toContain(`container/${NAME}: ${problem}`);
  });

  it('refuses a manifest stored under another name or sealed with another project key', async () => {
    await expect(readAll(await segmentsOf(10), 'manifests/vol/0000000002-other')).rejects.toThrow('segment 0: does not authenticate');
    await expect(readAll(await segmentsOf(10, new ProjectKeys('demo', ProjectKeys.newMasterKey())))).rejects.toThrow('segment 0: does not authenticate');
  });

  it('refuses to write entries out of order or other than the header counts', async () => {
    const { header, entries } = manifestOf(10);
    const write = async (h: ManifestHeader, source: AsyncIterable<ManifestEntry[]>) => {
      for await (const segment of sealedManifestSegments(h, source, keys, NAME)) void segment;
    };
    await expect(write({ ...header, entryCount: 11 }, entries())).rejects.toThrow("the manifest's header counts 11 entries, 10 came");
    async function* backwards() {
      yield [
        { index: 5, hash: Buffer.alloc(32) },
        { index: 4, hash: Buffer.alloc(32) },
      ];
    }
    await expect(write({ ...header, entryCount: 2 }, backwards())).rejects.toThrow('increasing block order (4 after 5)');
  });
});

function flip(segment: Buffer, at: number): Buffer {
  const copy = Buffer.from(segment);
  copy[at] ^= 1;
  return copy;
}

function forgeLength(segment: Buffer): Buffer {
  const copy = Buffer.from(segment);
  copy.writeUInt32BE(32 << 20, 8);
  return copy;
}
