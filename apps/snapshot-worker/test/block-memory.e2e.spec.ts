import { randomBytes } from 'node:crypto';
import { directWritesAllowed } from '@island/qcow2';
import { guestIo, IslandStack, useIsland } from '@island/stack';

const MIB = 1 << 20;
const BLOCK = 4 * MIB;
/** 24 distinct blocks of 4 MiB: more than the restore's recent blocks, and more than the 64 MiB block memory budget. */
const SIZE = 24 * BLOCK;

/**
 * A worker's block memory budget (64 MiB for all its jobs) with the largest blocks: a restore keeps up to 16 MiB of
 * recent blocks across its waits for more memory, and a snapshot's two upload batches of 8 blocks of 4 MiB ask for half
 * the budget each; both run in the one worker at once, and each ends with the bytes it was given.
 */
describe('block memory shared by a restore and a snapshot of 4 MiB blocks', () => {
  const island = useIsland({ env: { ISLAND_BLOCK_SIZE: String(BLOCK) } });
  const io = guestIo(island);

  it('restores one volume while snapshotting another in the same worker, every byte as written', async () => {
    const source = await io.createVolume(SIZE);
    const sourcePath = await io.attach(source);
    const sourceModel = Buffer.alloc(SIZE);
    await io.write(sourcePath, 0, randomBytes(SIZE), sourceModel);
    const snapshot = await io.snapshot(source);
    expect(snapshot.blockSize).toBe(BLOCK);

    const other = await io.createVolume(SIZE);
    const otherPath = await io.attach(other);
    const otherModel = Buffer.alloc(SIZE);
    await io.write(otherPath, 0, randomBytes(SIZE), otherModel);

    const clone = await io.createVolume(SIZE, { snapshotId: String(snapshot.id) });
    const [clonePath, otherSnapshot] = await Promise.all([io.attach(clone), io.snapshot(other)]);
    expect((await io.read(clonePath)).equals(sourceModel)).toBe(true);

    const otherClone = await io.createVolume(SIZE, { snapshotId: String(otherSnapshot.id) });
    expect((await io.read(await io.attach(otherClone))).equals(otherModel)).toBe(true);

    // both restores wrote their blocks, in memory the workers lent aligned, past the page cache where the file system allows it
    const restored = await workersCounter(island, 'island_worker_bytes_restored_total');
    expect(restored).toBe(2 * SIZE);
    expect(await workersCounter(island, 'island_worker_bytes_restored_direct_total')).toBe((await directWritesAllowed(island.dataDir)) ? restored : 0);
  }, 300_000);
});

/** A counter summed over the stack's snapshot workers' /metrics. */
async function workersCounter(island: IslandStack, name: string): Promise<number> {
  let total = 0;
  for (const port of island.ports.workers) {
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    total += Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(metrics)?.[1] ?? 0);
  }
  return total;
}
