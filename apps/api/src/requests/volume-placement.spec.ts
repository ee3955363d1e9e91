import { randomBytes } from 'node:crypto';
import { IslandConfig } from '@island/config';
import { ImageCreateFromSnapshot, VolumeRestore } from '@island/contracts';
import { MetricsService } from '@island/platform';
import { Caller } from '../auth/caller';
import { ConflictError } from '../errors/domain-errors';
import { CatalogFixture, HOST, REGION } from '../state-machines/testing/catalog-fixture';
import { SnapshotCopyService } from './snapshot-copy.service';
import { VolumeService } from './volume.service';

describe('placing a volume with content on a host (on the real catalog)', () => {
  let f: CatalogFixture;
  let volumes: VolumeService;
  const caller: Caller = { projectId: 'p1', admin: false, scope: 'p1', readOnly: false };

  beforeAll(async () => {
    f = await CatalogFixture.create();
    const config = { region: REGION, regions: [{ name: REGION }], quotas: {}, blocks: { size: 65536 }, lazyRestore: true } as unknown as IslandConfig;
    volumes = new VolumeService(config, f.uow, new MetricsService(), new SnapshotCopyService(config, f.uow));
  });
  afterAll(() => f?.drop());

  /** An unplaced volume whose head content is `blocks` non-hole blocks of 64 KiB, as a clone of a snapshot is. */
  async function unplacedWithContent(blocks: number): Promise<string> {
    const source = await f.placedVolume();
    const snapshot = await f.newSnapshot(source, { status: 'available', manifestObject: 'manifests/m' });
    const volume = await f.placedVolume({ host: null, imagePath: null, headSnapshotId: snapshot.id });
    for (let i = 0; i < blocks; i++) {
      await f.db.dataSource.query(`INSERT INTO block_version (volume_id, block_index, hash, first_seq) VALUES ($1, $2, $3, 1)`, [
        volume.id,
        i,
        randomBytes(32),
      ]);
    }
    return volume.id;
  }

  async function hostWithFree(freeBytes: number): Promise<void> {
    await f.heartbeat({ freeBytes });
  }

  it('refuses before anything starts when the host has not the room for the content, saying how much', async () => {
    const id = await unplacedWithContent(4);
    await hostWithFree(64 * 1024 * 1024); // the margin alone
    const refused = await volumes.attach(caller, id, { host: HOST }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ConflictError);
    expect((refused as Error).message).toBe(`host ${HOST} has 0.06 GiB free; volume ${id}'s content needs 0.00 GiB there (+0.06 GiB margin)`);
    expect(await f.volume(id)).toMatchObject({ status: 'available', host: null });
    expect(await f.jobOf(id)).toBeUndefined();
  });

  it('starts the restore when the host has the room', async () => {
    const id = await unplacedWithContent(4);
    await hostWithFree(1e12);
    await volumes.attach(caller, id, { host: HOST });
    expect(await f.volume(id)).toMatchObject({ status: 'attaching', host: HOST });
    expect(await f.jobOf(id)).toMatchObject({ status: 'running' });
  });

  it('serves a volume with content attached with any export before its content is local, and restores it whole for file mode', async () => {
    await hostWithFree(1e12);
    for (const exportKind of ['nbd', 'raw', 'block'] as const) {
      const lazy = await unplacedWithContent(4);
      await f.clearOutbox();
      await volumes.attach(caller, lazy, { host: HOST, export: exportKind });
      expect(await f.sent(ImageCreateFromSnapshot)).toEqual([
        expect.objectContaining({ volumeId: lazy, manifestObject: 'manifests/m', path: `/data/volumes/${lazy}.qcow2` }),
      ]);
      expect(await f.sent(VolumeRestore)).toEqual([]);
      expect(await f.volume(lazy)).toMatchObject({ status: 'attaching', exportKind, fillStatus: 'filling', fillDone: 0 });
    }

    const whole = await unplacedWithContent(4);
    await f.clearOutbox();
    await volumes.attach(caller, whole, { host: HOST });
    expect(await f.sent(VolumeRestore)).toEqual([expect.objectContaining({ volumeId: whole, purpose: 'attach' })]);
    expect(await f.sent(ImageCreateFromSnapshot)).toEqual([]);
    expect(await f.volume(whole)).toMatchObject({ fillStatus: null });
  });
});
