import { openSync, closeSync, readSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { scratchDir } from '../test/qemu-tools';
import { createImage, createSnapshot, diffSnapshots, InvalidImageError, Qcow2Image } from './index';

/** 4 KiB clusters: an L2 table of 512 entries maps 2 MiB, so a 64 MiB image has 32 tables, more than a diff reads ahead. */
const CLUSTER = 4096;
const TABLE_SPAN = 2 << 20;
const SIZE = 64 << 20;
const TABLES = SIZE / TABLE_SPAN;

/** How a diff walks many L2 tables: read ahead of the comparison, the image's unwritten changes included, errors in turn. */
describe('a diff walking many L2 tables', () => {
  const { dir, cleanup } = scratchDir('diff-walk');
  afterAll(cleanup);

  /** An image with 400 clusters written in every table, point in time p0, then two clusters of each table rewritten, others in each. */
  async function imageWithRewrites(name: string, rewrite: (image: Qcow2Image) => Promise<void> = rewriteTwoPerTable): Promise<Qcow2Image> {
    const path = join(dir, name);
    await createImage(path, { size: SIZE, clusterSize: CLUSTER });
    const image = await Qcow2Image.open(path, { writable: true });
    for (let t = 0; t < TABLES; t++) await image.write(t * TABLE_SPAN, Buffer.alloc(CLUSTER * 400, 1 + t));
    await createSnapshot(image, 'p0');
    await rewrite(image);
    return image;
  }

  async function rewriteTwoPerTable(image: Qcow2Image): Promise<void> {
    for (let t = 0; t < TABLES; t++) {
      await image.write(t * TABLE_SPAN + (5 + t) * CLUSTER, Buffer.alloc(CLUSTER, 0xee));
      await image.write(t * TABLE_SPAN + (300 - t) * CLUSTER, Buffer.alloc(CLUSTER, 0xdd));
    }
  }

  const expected = Array.from({ length: TABLES }, (_, t) => [
    { offset: t * TABLE_SPAN + (5 + t) * CLUSTER, length: CLUSTER, kind: 'data' },
    { offset: t * TABLE_SPAN + (300 - t) * CLUSTER, length: CLUSTER, kind: 'data' },
  ]).flat();

  it('reports exactly the rewritten clusters of every one of 32 tables between two points in time, read from the file', async () => {
    const image = await imageWithRewrites('points.qcow2');
    await createSnapshot(image, 'p1');
    await image.close();
    const reader = await Qcow2Image.open(join(dir, 'points.qcow2')); // a fresh open: every table comes from the file
    expect((await diffSnapshots(reader, 'p0', 'p1')).extents).toEqual(expected);
    await reader.close();
  });

  it('reports the rewritten clusters of an image of 2 MiB clusters, whose tables are read two at a time', async () => {
    const cluster = 2 << 20;
    const span = (cluster / 8) * cluster; // 512 GiB a table
    const path = join(dir, 'large-clusters.qcow2');
    await createImage(path, { size: 5 * span, clusterSize: cluster });
    const image = await Qcow2Image.open(path, { writable: true });
    for (let t = 0; t < 5; t++) await image.write(t * span, Buffer.alloc(2 * cluster, 1 + t));
    await createSnapshot(image, 'p0');
    for (let t = 0; t < 5; t += 2) await image.write(t * span + cluster, Buffer.alloc(cluster, 0xee));
    await createSnapshot(image, 'p1');
    await image.close();
    const reader = await Qcow2Image.open(path);
    expect((await diffSnapshots(reader, 'p0', 'p1')).extents).toEqual([0, 2, 4].map((t) => ({ offset: t * span + cluster, length: cluster, kind: 'data' })));
    await reader.close();
  });

  it("reports the active image's rewrites while its changed tables are still only in memory", async () => {
    const image = await imageWithRewrites('unflushed.qcow2');
    // nothing flushed since the rewrites: the changed tables are in the image's cache, their clusters on disk not yet written
    expect((await diffSnapshots(image, 'p0')).extents).toEqual(expected);
    await image.close();
  });

  it('fails naming a late table that lies beyond the end of the file', async () => {
    const image = await imageWithRewrites('bad-table.qcow2');
    await createSnapshot(image, 'p1');
    await image.close();
    const path = join(dir, 'bad-table.qcow2');
    pointSnapshotL1EntryBeyondEnd(path, 'p1', 20);
    const reader = await Qcow2Image.open(path);
    const failure = diffSnapshots(reader, 'p0', 'p1');
    await expect(failure).rejects.toThrow(InvalidImageError);
    await expect(failure).rejects.toThrow(/L2 table 20 .*beyond the end of the file/);
    await reader.close();
  });
});

/** Rewrites entry `index` of point in time `name`'s L1 table (the first snapshot table entry named so) to a cluster past the file's end. */
function pointSnapshotL1EntryBeyondEnd(path: string, name: string, index: number): void {
  const fd = openSync(path, 'r+');
  try {
    const header = Buffer.alloc(72);
    readSync(fd, header, 0, 72, 0);
    const count = header.readUInt32BE(60);
    let at = Number(header.readBigUInt64BE(64));
    for (let s = 0; s < count; s++) {
      const entry = Buffer.alloc(40);
      readSync(fd, entry, 0, 40, at);
      const idSize = entry.readUInt16BE(12);
      const nameSize = entry.readUInt16BE(14);
      const extraSize = entry.readUInt32BE(36);
      const names = Buffer.alloc(idSize + nameSize);
      readSync(fd, names, 0, names.length, at + 40 + extraSize);
      if (names.subarray(idSize).toString() === name) {
        const l1 = Number(entry.readBigUInt64BE(0));
        const beyond = Buffer.alloc(8);
        beyond.writeBigUInt64BE(BigInt(Math.ceil(statSync(path).size / CLUSTER) * CLUSTER + 64 * CLUSTER));
        writeSync(fd, beyond, 0, 8, l1 + index * 8);
        return;
      }
      at += Math.ceil((40 + extraSize + idSize + nameSize) / 8) * 8;
    }
    throw new Error(`no point in time named ${name} in ${path}`);
  } finally {
    closeSync(fd);
  }
}
