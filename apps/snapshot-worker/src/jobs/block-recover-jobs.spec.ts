import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlockDecoder, EncodedBlock, objectNames, ProjectKeys, type ProjectKeyService, type RegionStores } from '@island/blockstore';
import type { IslandConfig } from '@island/config';
import { BLOCK_RECOVER_REPLY } from '@island/contracts';
import type { MessageContext, MessagePublisher } from '@island/messaging';
import { MetricsService } from '@island/platform';
import { createImage, createSnapshot, Qcow2Image } from '@island/qcow2';
import { BlockRecoverJobs } from './block-recover-jobs';

const MIB = 1 << 20;

/**
 * A volume image with point in time `pit` holding `kept` at block 2, overwritten in the active image since; a store that
 * records what it is asked to write, and a publisher that records the answer.
 */
async function setUp() {
  const dataDir = mkdtempSync(join(tmpdir(), 'island-recover-'));
  mkdirSync(join(dataDir, 'volumes'));
  const path = join(dataDir, 'volumes', 'v.qcow2');
  const kept = randomBytes(MIB);
  await createImage(path, { size: 4 * MIB });
  const image = await Qcow2Image.open(path, { writable: true });
  await image.write(2 * MIB, kept);
  await createSnapshot(image, 'pit');
  await image.write(2 * MIB, randomBytes(MIB));
  await image.close();

  const keys = new ProjectKeys('p', ProjectKeys.newMasterKey());
  const written: EncodedBlock[] = [];
  const stores = {
    store: async () => ({ replaceBlock: async (block: EncodedBlock) => (written.push(block), block.object.length) }),
  } as unknown as RegionStores;
  const projectKeys = { keysForWriting: async () => keys } as unknown as ProjectKeyService;
  const replies: Record<string, string | number>[] = [];
  const publisher = {
    reply: async (_c: MessageContext, _b: Buffer, headers: Record<string, string | number>) => void replies.push(headers),
  } as unknown as MessagePublisher;
  const jobs = new BlockRecoverJobs({ host: { dataDir } } as IslandConfig, stores, projectKeys, publisher, new MetricsService());
  const job = {
    host: 'h',
    projectId: 'p',
    region: 'RegionOne',
    name: keys.blockName(kept).toString('hex'),
    volumeId: '00000000-0000-4000-8000-000000000001',
    path,
    pointInTime: 'pit',
    blockIndex: 2,
    blockSize: MIB,
  };
  return { jobs, job, keys, kept, written, replies, context: {} as MessageContext };
}

describe('putting a lost block back from a volume of this host', () => {
  it("writes the point in time's bytes, sealed under the project's key, when they carry the lost block's name", async () => {
    const { jobs, job, keys, kept, written, replies, context } = await setUp();
    await jobs.recover(job, context);
    expect(written).toHaveLength(1);
    expect(written[0].hash.toString('hex')).toBe(job.name);
    expect(new BlockDecoder().decode(written[0].object, written[0].hash, objectNames.block(written[0].hash), keys).equals(kept)).toBe(true);
    expect(replies).toEqual([{ [BLOCK_RECOVER_REPLY.storedSize]: written[0].object.length }]);
  });

  it('writes nothing and says why when the point in time holds other bytes at that index', async () => {
    const { jobs, job, written, replies, context } = await setUp();
    await jobs.recover({ ...job, blockIndex: 1 }, context);
    expect(written).toHaveLength(0);
    expect(String(replies[0][BLOCK_RECOVER_REPLY.error])).toMatch(/block 1 of point in time pit holds other bytes now/);
  });

  it('writes nothing and says why when the point in time is gone', async () => {
    const { jobs, job, written, replies, context } = await setUp();
    await jobs.recover({ ...job, pointInTime: 'released' }, context);
    expect(written).toHaveLength(0);
    expect(String(replies[0][BLOCK_RECOVER_REPLY.error])).toMatch(/^volume 0{8}-0{4}-4000-8000-0{11}1 on h: .*released/);
  });
});
