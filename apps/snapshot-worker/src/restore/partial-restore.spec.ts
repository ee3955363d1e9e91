import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createImage, createSnapshot, Qcow2Image } from '@island/qcow2';
import { BlockRanges } from './block-ranges';
import { PartialRestore } from './partial-restore';
import { RestoreCheckpoints } from './restore-checkpoints';
import { RestoreIdentity } from './restore-record';

const BLOCK = 256 * 1024;
const SIZE = 16 * BLOCK;

/** What the process leaves when it is killed: the file as written so far, nothing flushed from memory, a stale lock. */
async function dieWith(image: Qcow2Image): Promise<void> {
  await image.file.io.close();
}

describe('a partial restore delivered again', () => {
  let dir: string;
  let partial: PartialRestore;
  const identity: RestoreIdentity = {
    operationId: 'op-1',
    volumeId: 'vol-1',
    region: 'RegionOne',
    manifestObject: 'manifests/vol-0/0000000001-snap',
    manifestEtag: 'ab'.repeat(16),
    sizeBytes: SIZE,
    pointInTime: 'snap-1',
    entries: 8,
  };
  const blocks = Array.from({ length: 8 }, () => randomBytes(BLOCK));

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'partial-restore-'));
    partial = new PartialRestore(join(dir, 'volume.qcow2'));
  });

  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** Writes blocks (ordinal k at index 2k) as the restore does, with a checkpoint after `recorded` of them. */
  async function interruptedRestore(recorded: number, unrecorded: number): Promise<void> {
    const { image } = await partial.open(identity);
    const checkpoints = new RestoreCheckpoints(image, partial.record, identity, BlockRanges.empty());
    const write = async (k: number) => {
      await image.write(2 * k * BLOCK, blocks[k]);
      checkpoints.blockWritten(k);
    };
    for (let k = 0; k < recorded; k++) await write(k);
    await checkpoints.checkpoint();
    for (let k = recorded; k < recorded + unrecorded; k++) await write(k);
    await image.refcounts.writeBlocks(); // as an L2 table pushed out of the cache does: counted clusters whose tables never reach the disk
    await dieWith(image);
  }

  it('starts from an empty image when nothing was there, and says nothing', async () => {
    const opened = await partial.open(identity);
    expect(opened).toMatchObject({ resumed: false, startedOverBecause: undefined, hasPointInTime: false });
    expect(opened.written.count).toBe(0);
    expect(opened.image.info.virtualSize).toBe(SIZE);
    await opened.image.close();
  });

  it('resumes after a crash from the blocks recorded, which read back intact, and releases what the crash leaked', async () => {
    await interruptedRestore(3, 2);
    expect(existsSync(`${partial.imagePath}.lock`)).toBe(true); // left by the dead writer

    const opened = await partial.open(identity);
    expect(opened.resumed).toBe(true);
    expect(opened.written.toJSON()).toEqual([[0, 3]]);
    expect(opened.leaksReleased).toBeGreaterThan(0);
    for (let k = 0; k < 3; k++) expect((await opened.image.read(2 * k * BLOCK, BLOCK)).equals(blocks[k])).toBe(true);
    await opened.image.close();
    // qemu-img agrees the image is clean
    execFileSync('qemu-img', ['check', '-q', '-f', 'qcow2', partial.imagePath]);
  });

  it('starts over, removing the record first, when the record belongs to another operation', async () => {
    await interruptedRestore(3, 0);
    const opened = await partial.open({ ...identity, operationId: 'op-2' });
    expect(opened).toMatchObject({ resumed: false, startedOverBecause: expect.stringContaining('operationId "op-1"') });
    expect(opened.written.count).toBe(0);
    expect((await opened.image.read(0, BLOCK)).equals(Buffer.alloc(BLOCK))).toBe(true);
    expect(await partial.record.read()).toBeUndefined();
    await opened.image.close();
  });

  it('starts over when the partial image is gone', async () => {
    await interruptedRestore(3, 0);
    rmSync(partial.imagePath);
    const opened = await partial.open(identity);
    expect(opened.startedOverBecause).toBe('a progress record without its partial image');
    await opened.image.close();
  });

  it('starts over when the image has no record beside it', async () => {
    await createImage(partial.imagePath, { size: SIZE });
    const opened = await partial.open(identity);
    expect(opened.startedOverBecause).toBe('a partial image without a progress record');
    await opened.image.close();
  });

  it('starts over when the image is not the one the record describes: another size, a backing file, a foreign point in time, damage', async () => {
    const cases: [string, () => Promise<void>, RegExp][] = [
      [
        'size',
        async () => {
          execFileSync('qemu-img', ['resize', '-q', '-f', 'qcow2', partial.imagePath, String(2 * SIZE)]);
        },
        /is 8388608 bytes, the volume 4194304/,
      ],
      [
        'backing',
        async () => {
          const base = join(dir, 'base.qcow2');
          await createImage(base, { size: SIZE });
          execFileSync('qemu-img', ['rebase', '-u', '-q', '-f', 'qcow2', '-b', base, '-F', 'qcow2', partial.imagePath]);
        },
        /has a backing file/,
      ],
      [
        'point in time',
        async () => {
          const image = await Qcow2Image.open(partial.imagePath, { writable: true });
          await createSnapshot(image, 'someone-else');
          await image.close();
        },
        /holds points in time \(someone-else\)/,
      ],
      [
        'damage',
        async () => {
          const image = await Qcow2Image.open(partial.imagePath, { writable: true });
          const mapping = await image.mapping(image.activeView(), 0);
          if (mapping.kind !== 'data') throw new Error('block 0 is not allocated');
          await image.refcounts.set(mapping.offset / image.clusterSize, 0);
          await image.close();
        },
        /qcow2 check of the partial image found \d+ errors/,
      ],
    ];
    for (const [what, spoil, why] of cases) {
      await interruptedRestore(2, 0);
      rmSync(`${partial.imagePath}.lock`); // the dead writer's
      await spoil();
      const opened = await partial.open(identity);
      expect([what, opened.resumed, opened.startedOverBecause]).toEqual([what, false, expect.stringMatching(why)]);
      await opened.image.close();
      await partial.discard();
    }
  });

  it('finishes with only the rename when the image was complete and its point in time taken', async () => {
    const { image } = await partial.open(identity);
    const checkpoints = new RestoreCheckpoints(image, partial.record, identity, BlockRanges.empty());
    for (let k = 0; k < 8; k++) {
      await image.write(2 * k * BLOCK, blocks[k]);
      checkpoints.blockWritten(k);
    }
    await checkpoints.checkpoint();
    await createSnapshot(image, identity.pointInTime);
    await dieWith(image);

    const opened = await partial.open(identity);
    expect(opened).toMatchObject({ resumed: true, hasPointInTime: true });
    expect(opened.written.count).toBe(8);
    await opened.image.close();
    await partial.moveIntoPlace();
    expect(existsSync(partial.target)).toBe(true);
    expect(existsSync(partial.imagePath)).toBe(false);
    expect(await partial.record.read()).toBeUndefined();
  });

  it('refuses a record that is torn, and starts over', async () => {
    await interruptedRestore(2, 0);
    writeFileSync(partial.record.path, '{"version":1,"operationId":"op-');
    const opened = await partial.open(identity);
    expect(opened.startedOverBecause).toMatch(/not JSON/);
    await opened.image.close();
  });
});
