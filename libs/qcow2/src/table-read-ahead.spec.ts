import { OnceReadTables, readTablesAhead, TableStep } from './table-read-ahead';

/** Tables faked in memory: each read answers after a few event-loop turns, and the reads in flight are counted. */
function fakeImage(clusterSize: number, failing = new Set<number>()) {
  const reads: number[] = [];
  let inFlight = 0;
  let mostInFlight = 0;
  const image: OnceReadTables = {
    clusterSize,
    async l2TableOnce(offset: number, what: string): Promise<Buffer> {
      reads.push(offset);
      inFlight++;
      mostInFlight = Math.max(mostInFlight, inFlight);
      for (let turn = 0; turn < 1 + (offset % 3); turn++) await new Promise((resolve) => setImmediate(resolve));
      inFlight--;
      if (failing.has(offset)) throw new Error(`${what} could not be read`);
      return Buffer.from(`table@${offset}`);
    },
  };
  return { image, reads, mostInFlight: () => mostInFlight };
}

function* steps(count: number, offsetsOf: (i: number) => number[], throwAt?: number): Generator<TableStep<number>> {
  for (let i = 0; i < count; i++) {
    if (i === throwAt) throw new Error(`L1 entry ${i} is malformed`);
    yield { step: i, offsets: offsetsOf(i), what: `L2 table ${i}` };
  }
}

async function walk<T>(tables: AsyncGenerator<{ step: T; tables: (Buffer | undefined)[] }>, seen: { step: T; tables: (string | undefined)[] }[]) {
  for await (const { step, tables: read } of tables) {
    seen.push({ step, tables: read.map((t) => t?.toString()) });
    // the walk's own work between its steps
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('readTablesAhead', () => {
  it("yields every step's tables in the steps' order, reading up to 8 steps at once", async () => {
    const { image, mostInFlight } = fakeImage(65536);
    const seen: { step: number; tables: (string | undefined)[] }[] = [];
    await walk(
      readTablesAhead(
        image,
        steps(40, (i) => [(i + 1) * 65536, i % 4 === 0 ? 0 : (i + 100) * 65536]),
        2,
      ),
      seen,
    );
    expect(seen.map((s) => s.step)).toEqual(Array.from({ length: 40 }, (_, i) => i));
    seen.forEach(({ step, tables }) => {
      expect(tables[0]).toBe(`table@${(step + 1) * 65536}`);
      expect(tables[1]).toBe(step % 4 === 0 ? undefined : `table@${(step + 100) * 65536}`);
    });
    expect(mostInFlight()).toBeGreaterThan(2);
    expect(mostInFlight()).toBeLessThanOrEqual(16);
  });

  it('holds no more than 8 MiB of tables in flight: two 1 MiB tables for each of four steps, one 512 KiB table for each of eight, two 2 MiB tables for each of two', async () => {
    // the most tables in flight over a walk of `count` steps of `perStep` tables each, one table a cluster
    const mostTablesInFlight = async (clusterSize: number, count: number, perStep: number) => {
      const { image, mostInFlight } = fakeImage(clusterSize);
      const offsets = (i: number) => Array.from({ length: perStep }, (_, k) => (perStep * i + k + 1) * clusterSize);
      await walk(readTablesAhead(image, steps(count, offsets), perStep), []);
      return mostInFlight();
    };
    expect(await mostTablesInFlight(1 << 20, 20, 2)).toBe(8);
    expect(await mostTablesInFlight(512 << 10, 20, 1)).toBe(8);
    expect(await mostTablesInFlight(2 << 20, 6, 2)).toBe(4);
  });

  it('throws a table that failed to read when the walk reaches its step, after every step before it', async () => {
    const { image } = fakeImage(65536, new Set([6 * 65536]));
    const seen: { step: number; tables: (string | undefined)[] }[] = [];
    await expect(
      walk(
        readTablesAhead(
          image,
          steps(20, (i) => [i * 65536]),
          1,
        ),
        seen,
      ),
    ).rejects.toThrow('L2 table 6 could not be read');
    expect(seen.map((s) => s.step)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('throws a step that cannot be made (a malformed L1 entry) where it stands, after every step before it', async () => {
    const { image, reads } = fakeImage(65536);
    const seen: { step: number; tables: (string | undefined)[] }[] = [];
    await expect(
      walk(
        readTablesAhead(
          image,
          steps(20, (i) => [(i + 1) * 65536], 3),
          1,
        ),
        seen,
      ),
    ).rejects.toThrow('L1 entry 3 is malformed');
    expect(seen.map((s) => s.step)).toEqual([0, 1, 2]);
    expect(reads).toEqual([65536, 2 * 65536, 3 * 65536]);
  });
});
