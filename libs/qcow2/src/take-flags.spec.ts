import { join } from 'node:path';
import { CLUSTER, imageOfEveryKind, L2_SPAN } from '../test/every-kind-image';
import { qemuCheck, qemuRaw, scratchDir } from '../test/qemu-tools';
import { createSnapshot, Qcow2Image } from './index';

describe('a point in time taken over every kind of cluster', () => {
  const { dir, cleanup } = scratchDir('take-flags');
  afterAll(cleanup);

  it('leaves flags qemu-img check agrees with, and later writes leave its bytes alone', async () => {
    const path = join(dir, 'kinds.qcow2');
    imageOfEveryKind(path);
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
