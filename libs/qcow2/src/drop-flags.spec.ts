import { join } from 'node:path';
import { CLUSTER, imageOfEveryKind, L2_SPAN } from '../test/every-kind-image';
import { qemuCheck, qemuImg, qemuIo, qemuRaw, scratchDir } from '../test/qemu-tools';
import { SingleReferences } from './copied-after-drop';
import { createSnapshot, deleteSnapshot, Qcow2Image } from './index';

async function take(path: string, name: string): Promise<void> {
  const image = await Qcow2Image.open(path, { writable: true });
  await createSnapshot(image, name);
  await image.close();
}

async function drop(path: string, name: string): Promise<void> {
  const image = await Qcow2Image.open(path, { writable: true });
  await deleteSnapshot(image, name);
  await image.close();
}

/** The host offset qemu-img map gives the guest's first byte. */
function hostOffsetOfFirstCluster(path: string): number {
  const [first] = JSON.parse(qemuImg('map', '--output=json', path)) as { start: number; offset?: number }[];
  expect(first.start).toBe(0);
  return Number(first.offset);
}

// qemu-img check counts a COPIED flag that disagrees with its refcount (set on a shared cluster, or missing on one the
// active image holds alone) as a corruption, for data clusters and L2 tables alike
describe('a point in time dropped', () => {
  const { dir, cleanup } = scratchDir('drop-flags');
  afterAll(cleanup);

  it('behind a newer one, with writes between and after, flags nothing the newer one still holds, and every byte stays', async () => {
    const path = join(dir, 'older.qcow2');
    imageOfEveryKind(path);
    await take(path, 'older');
    qemuIo(path, `write -P 0x21 ${7 * L2_SPAN} ${CLUSTER}`, `write -P 0x22 ${100 * L2_SPAN + CLUSTER} ${CLUSTER}`);
    await take(path, 'newer');
    // what the guest writes while the newer one uploads: clusters the older and newer still share
    qemuIo(path, `write -P 0x31 ${9 * L2_SPAN} ${CLUSTER}`, `write -P 0x32 ${3 * L2_SPAN + 8 * CLUSTER} ${CLUSTER}`);
    const newer = qemuRaw(dir, path, 'newer');
    const active = qemuRaw(dir, path);

    await drop(path, 'older');

    expect(qemuCheck(path)).toEqual({ errors: 0, leaks: 0, corruptions: 0 });
    expect(qemuRaw(dir, path, 'newer').equals(newer)).toBe(true);
    expect(qemuRaw(dir, path).equals(active)).toBe(true);
  });

  it('newer than one kept gives the active image back what it wrote between the two, flagged its own', async () => {
    const path = join(dir, 'newer.qcow2');
    imageOfEveryKind(path);
    await take(path, 'older');
    qemuIo(path, `write -P 0x23 ${8 * L2_SPAN} ${3 * CLUSTER}`, `write -P 0x24 ${130 * L2_SPAN + 2 * CLUSTER} ${CLUSTER}`);
    await take(path, 'newer');
    qemuIo(path, `write -P 0x33 ${12 * L2_SPAN} ${CLUSTER}`);
    const older = qemuRaw(dir, path, 'older');
    const active = qemuRaw(dir, path);

    await drop(path, 'newer');

    expect(qemuCheck(path)).toEqual({ errors: 0, leaks: 0, corruptions: 0 });
    expect(qemuRaw(dir, path, 'older').equals(older)).toBe(true);
    expect(qemuRaw(dir, path).equals(active)).toBe(true);
  });

  it('the oldest of three, where the active image rewrote what the middle one holds, leaves the newest one shared', async () => {
    const path = join(dir, 'three.qcow2');
    imageOfEveryKind(path);
    await take(path, 'oldest');
    await take(path, 'middle');
    // the active image's copy of this cluster, and of its L2 table, is new, and the newest point in time then shares both:
    // the drop leaves the middle one alone with the old ones, at the same L1 index and entry
    const rewritten = 20 * L2_SPAN; // written by imageOfEveryKind: shared by all three until now
    qemuIo(path, `write -P 0x35 ${rewritten} ${CLUSTER}`);
    await take(path, 'newest');
    const newest = qemuRaw(dir, path, 'newest');
    const middle = qemuRaw(dir, path, 'middle');

    await drop(path, 'oldest');

    expect(qemuCheck(path)).toEqual({ errors: 0, leaks: 0, corruptions: 0 });
    // a flag set on the shared copy would let this write land in the newest point in time's cluster
    const image = await Qcow2Image.open(path, { writable: true });
    await image.write(rewritten, Buffer.alloc(CLUSTER, 0x36));
    await image.close();
    expect(qemuCheck(path)).toEqual({ errors: 0, leaks: 0, corruptions: 0 });
    expect(qemuRaw(dir, path, 'newest').equals(newest)).toBe(true);
    expect(qemuRaw(dir, path, 'middle').equals(middle)).toBe(true);
  });

  it('that was the only one gives the active image back every cluster it shared, flagged its own', async () => {
    const path = join(dir, 'only.qcow2');
    imageOfEveryKind(path);
    await take(path, 'only');
    qemuIo(path, `write -P 0x41 ${11 * L2_SPAN} ${CLUSTER}`);
    const active = qemuRaw(dir, path);

    await drop(path, 'only');

    expect(qemuCheck(path)).toEqual({ errors: 0, leaks: 0, corruptions: 0 });
    expect(qemuRaw(dir, path).equals(active)).toBe(true);
    // a write now lands in place: the cluster it holds alone is not copied
    const before = hostOffsetOfFirstCluster(path);
    const image = await Qcow2Image.open(path, { writable: true });
    await image.write(0, Buffer.alloc(CLUSTER, 0x51));
    await image.close();
    expect(hostOffsetOfFirstCluster(path)).toBe(before);
  });

  it(`that leaves more than ${SingleReferences.LIMIT} clusters one reference still flags every one the active image holds`, async () => {
    const path = join(dir, 'large.qcow2');
    const size = (SingleReferences.LIMIT + 4 * 64) * CLUSTER;
    qemuImg('create', '-q', '-f', 'qcow2', '-o', `cluster_size=${CLUSTER}`, path, String(size));
    qemuIo(path, `write -P 0x61 0 ${size}`);
    await take(path, 'all');
    qemuIo(path, `write -P 0x62 ${L2_SPAN} ${CLUSTER}`);
    const active = qemuRaw(dir, path);

    await drop(path, 'all');

    expect(qemuCheck(path)).toEqual({ errors: 0, leaks: 0, corruptions: 0 });
    expect(qemuRaw(dir, path).equals(active)).toBe(true);
  });
});

describe('SingleReferences', () => {
  it('keeps up to its limit and then says it overflowed', () => {
    const singles = new SingleReferences(2);
    singles.add(0, 1, 10);
    singles.add(0, -1, 11);
    expect(singles.overflowed).toBe(false);
    singles.add(1, 3, 12);
    expect(singles).toMatchObject({ overflowed: true, l1Indexes: [0, 0], entries: [1, -1], clusters: [10, 11] });
  });
});
