import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createImage, Qcow2Image } from './index';
import { compressedClusters } from './l2-entry';
import { OFLAG_COMPRESSED, OFLAG_COPIED, OFLAG_ZERO } from './limits';

/** One of each flag and bit the decoders treat differently, and offsets aligned, unaligned, zero and beyond 2^53. */
function craftedEntries(clusterSize: number): bigint[] {
  const cs = BigInt(clusterSize);
  const offsets = [0n, cs, 5n * cs, cs + 512n, 3n * cs + 2n, 1n << 54n];
  const flags = [0n, OFLAG_COPIED, OFLAG_COMPRESSED, OFLAG_ZERO, 1n << 1n, 1n << 8n, 1n << 56n, 1n << 61n];
  const entries: bigint[] = [];
  for (const offset of offsets) {
    for (const a of flags) for (const b of flags) entries.push(offset | a | b);
  }
  return entries;
}

type Outcome<T> = { value: T } | { error: string };

function outcome<T>(fn: () => T): Outcome<T> {
  try {
    return { value: fn() };
  } catch (error) {
    return { error: (error as Error).message };
  }
}

describe('plain L2 entries decoded from two words', () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'plain-entries-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each([
    ['v3, 64 KiB clusters', 65536, '1.1' as const],
    ['v3, 512-byte clusters', 512, '1.1' as const],
    ['v2, 64 KiB clusters', 65536, '0.10' as const],
  ])('keep and refuse exactly what the full decoder does, for every crafted entry (%s)', async (_, clusterSize, compat) => {
    const path = join(dir, `${clusterSize}-${compat}.qcow2`);
    await createImage(path, { size: 1 << 30, clusterSize, compat });
    const image = await Qcow2Image.open(path);
    try {
      for (const entry of craftedEntries(clusterSize)) {
        const table = Buffer.alloc(clusterSize);
        const at = 3;
        table.writeBigUInt64BE(entry, at * 8);
        const decoded = outcome(() => image.decode(table, at, at));
        const where = `entry 0x${entry.toString(16)}`;
        const data = outcome(() => {
          const { clusters, copied } = image.dataClusters(table, 0);
          return { clusters: [...clusters], copied: [...copied] };
        });
        for (const all of [false, true]) {
          const host = outcome(() => [...image.hostClusters(table, 0, all).clusters]);
          if ('error' in decoded) {
            expect({ where, host }).toEqual({ where, host: { error: decoded.error } });
            continue;
          }
          const m = decoded.value;
          let expected: number[] = [];
          if ((m.kind === 'data' || m.kind === 'zero' || (all && m.kind === 'subclusters')) && m.offset) expected = [m.offset / clusterSize];
          else if (all && m.kind === 'compressed') expected = compressedClusters(m.offset, m.size, clusterSize);
          expect({ where, all, host }).toEqual({ where, all, host: { value: expected } });
        }
        if ('error' in decoded) {
          expect({ where, data }).toEqual({ where, data: { error: decoded.error } });
        } else {
          const m = decoded.value;
          const expected = m.kind === 'data' ? { clusters: [m.offset / clusterSize], copied: [m.copied ? 1 : 0] } : { clusters: [], copied: [] };
          expect({ where, data }).toEqual({ where, data: { value: expected } });
        }
      }
    } finally {
      await image.close();
    }
  });
});
