import { join } from 'node:path';
import { qemuCheck, qemuImg, qemuIo, qemuRaw, scratchDir } from '../test/qemu-tools';
import { SingleReferences } from './copied-after-drop';
import { createSnapshot, deleteSnapshot, Qcow2Image } from './index';

/** The smallest clusters: many L2 tables in a small image. */
const CLUSTER = 512;
/** A 512-byte cluster's L2 table maps 64 clusters: 32 KiB of the guest. */
const L2_SPAN = 64 * CLUSTER;
/** More L2 tables than the image's cache holds (128). */
const TABLES = 144;

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

/** An image of TABLES L2 tables, each with two written clusters, a compressed one and a preallocated zero one among them. */
function imageOfEveryKind(path: string): void {
  qemuImg('create', '-q', '-f', 'qcow2', '-o', `cluster_size=${CLUSTER}`, path, String(TABLES * L2_SPAN));
  const writes = Array.from({ length: TABLES }, (_, t) => `write -P ${1 + (t % 250)} ${t * L2_SPAN} ${2 * CLUSTER}`);
  const kinds = [`write -c -P 0x77 ${3 * L2_SPAN + 8 * CLUSTER} ${CLUSTER}`, `write -c -P 0x78 ${140 * L2_SPAN + 8 * CLUSTER} ${CLUSTER}`];
  const zeroed = [`write -P 0x55 ${5 * L2_SPAN + 16 * CLUSTER} ${CLUSTER}`, `write -z ${5 * L2_SPAN + 16 * CLUSTER} ${CLUSTER}`];
  qemuIo(path, ...writes, ...kinds, ...zeroed);
}

// qemu-img check counts a COPIED flag that disagrees with its refcount (set on a shared cluster, or missing on one the
// active image holds alone) as a corruption, for data clusters and L2 tables alike
describe('a point in time dropped', () => {
  const { dir, cleanup } = scratchDir('drop-flags');
  afterAll(cleanup);

  it('behind a newer one, with writes between and after, leaves flags qemu-img check agrees with and every byte in place', async () => {
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

  it('that was the only one gives the active image back every cluster it shared, flagged its own', async () => {
    const path = join(dir, 'only.qcow2');
    imageOfEveryKind(path);
    await take(path, 'only');
    qemuIo(path, `write -P 0x41 ${11 * L2_SPAN} ${CLUSTER}`);
    const active = qemuRaw(dir, path);

    await drop(path, 'only');

    expect(qemuCheck(path)).toEqual({ errors: 0, leaks: 0, corruptions: 0 });
    expect(qemuRaw(dir, path).equals(active)).toBe(true);
    // a write now lands in place: no copy, so the file does not grow
    const size = Number(JSON.parse(qemuImg('info', '--output=json', path))['actual-size']);
    const image = await Qcow2Image.open(path, { writable: true });
    await image.write(0, Buffer.alloc(CLUSTER, 0x51));
    await image.close();
    expect(Number(JSON.parse(qemuImg('info', '--output=json', path))['actual-size'])).toBe(size);
  });

  it(`that leaves more than ${SingleReferences.LIMIT} clusters one reference has every refcount looked at instead`, async () => {
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
