import { join } from 'node:path';
import { scratchDir } from '../test/qemu-tools';
import { openRecorded } from '../test/recording-file';
import { createImage, createSnapshot, deleteSnapshot, Qcow2Image } from './index';

/** What a flush costs in fdatasyncs, by what it has to write (the crash-consistency spec proves the order). */
describe('durability barriers', () => {
  const { dir, cleanup } = scratchDir('barriers');
  afterAll(cleanup);
  let n = 0;

  async function barriersOf(prepare: (image: Qcow2Image) => Promise<void>, update: (image: Qcow2Image) => Promise<void>): Promise<number> {
    const path = join(dir, `b${n++}.qcow2`);
    await createImage(path, { size: 64 << 20 });
    const { image, file } = await openRecorded(path);
    await prepare(image);
    await image.flush();
    file.start();
    await update(image);
    file.stop();
    await image.close();
    return file.events.filter((e) => e.kind === 'barrier').length;
  }

  const data = (length: number) => Buffer.alloc(length, 0x5a);

  it.each([
    {
      what: 'an overwrite of clusters the image owns',
      barriers: 1,
      prepare: (i: Qcow2Image) => i.write(0, data(1 << 20)),
      update: (i: Qcow2Image) => i.write(4096, data(200_000)),
    },
    {
      what: 'new clusters under existing L2 tables',
      barriers: 2,
      prepare: (i: Qcow2Image) => i.write(0, data(4096)),
      update: (i: Qcow2Image) => i.write(1 << 20, data(1 << 20)),
    },
    { what: 'new clusters under a new L2 table', barriers: 3, prepare: async () => undefined, update: (i: Qcow2Image) => i.write(0, data(1 << 20)) },
    {
      what: 'new clusters replacing clusters a snapshot shares',
      barriers: 3,
      prepare: async (i: Qcow2Image) => {
        await i.write(0, data(1 << 20));
        await createSnapshot(i, 's');
      },
      update: (i: Qcow2Image) => i.write(0, data(1 << 20)),
    },
    { what: 'nothing', barriers: 0, prepare: async () => undefined, update: async () => undefined },
  ])('a flush after $what makes $barriers fdatasync calls', async ({ prepare, update, barriers }) => {
    expect(
      await barriersOf(prepare, async (image) => {
        await update(image);
        await image.flush();
      }),
    ).toBe(barriers);
  });

  it('creating a snapshot makes two fdatasync calls, and deleting it two', async () => {
    const prepare = async (image: Qcow2Image) => {
      for (let offset = 0; offset < 64 << 20; offset += 4 << 20) await image.write(offset, data(256 << 10));
    };
    expect(await barriersOf(prepare, (image) => createSnapshot(image, 's').then(() => undefined))).toBe(2);
    expect(
      await barriersOf(
        async (image) => {
          await prepare(image);
          await createSnapshot(image, 's');
        },
        (image) => deleteSnapshot(image, 's'),
      ),
    ).toBe(2);
  });
});
