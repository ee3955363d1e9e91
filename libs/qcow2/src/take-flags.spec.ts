import { join } from 'node:path';
import { qemuCheck, qemuImg, qemuIo, qemuRaw, scratchDir } from '../test/qemu-tools';
import { createSnapshot, Qcow2Image } from './index';

/** The smallest clusters: many L2 tables in a small image. */
const CLUSTER = 512;
/** A 512-byte cluster's L2 table maps 64 clusters: 32 KiB of the guest. */
const L2_SPAN = 64 * CLUSTER;
/** More L2 tables than the image's cache holds (128), so a take's pass over them pushes some out mid-change. */
const TABLES = 144;

describe('a point in time taken over every kind of cluster', () => {
  const { dir, cleanup } = scratchDir('take-flags');
  afterAll(cleanup);

  it('leaves flags qemu-img check agrees with, and later writes leave its bytes alone', async () => {
    const path = join(dir, 'kinds.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', '-o', `cluster_size=${CLUSTER}`, path, String(TABLES * L2_SPAN));
    const writes = Array.from({ length: TABLES }, (_, t) => `write -P ${1 + (t % 250)} ${t * L2_SPAN} ${2 * CLUSTER}`);
    // compressed clusters, and a preallocated zero cluster (zeroed without unmapping: the zero flag with its offset kept)
    const kinds = [`write -c -P 0x77 ${3 * L2_SPAN + 8 * CLUSTER} ${CLUSTER}`, `write -c -P 0x78 ${140 * L2_SPAN + 8 * CLUSTER} ${CLUSTER}`];
    const zeroed = [`write -P 0x55 ${5 * L2_SPAN + 16 * CLUSTER} ${CLUSTER}`, `write -z ${5 * L2_SPAN + 16 * CLUSTER} ${CLUSTER}`];
    qemuIo(path, ...writes, ...kinds, ...zeroed);
    expect(qemuImg('map', '--output=json', path)).toContain('"present": true, "zero": true, "data": false, "offset"');
    expect(JSON.parse(qemuImg('check', '--output=json', path))).toMatchObject({ 'compressed-clusters': 2 });
    const before = qemuRaw(dir, path);

    const image = await Qcow2Image.open(path, { writable: true });
    await createSnapshot(image, 'taken');
    const model = Buffer.from(before);
    for (const at of [0, 3 * L2_SPAN + 8 * CLUSTER, 5 * L2_SPAN + 16 * CLUSTER, 139 * L2_SPAN, 140 * L2_SPAN + 8 * CLUSTER]) {
      const data = Buffer.alloc(CLUSTER, 0xc3);
      await image.write(at, data);
      data.copy(model, at);
    }
    await image.close();

    // qemu-img check counts a COPIED flag that disagrees with its refcount (set on a shared cluster, or missing on one
    // the active image holds alone) as a corruption, for data clusters and L2 tables alike
    expect(qemuCheck(path)).toEqual({ errors: 0, leaks: 0, corruptions: 0 });
    expect(qemuRaw(dir, path, 'taken').equals(before)).toBe(true);
    expect(qemuRaw(dir, path).equals(model)).toBe(true);
  });
});
