import { createHash, randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { guestIo, regionOneSwift, startIsland, useIsland } from '@island/stack';

const MIB = 1 << 20;
const SIZE = 8 * MIB;
type Json = Record<string, unknown>;

/**
 * fsck finds what is wrong between the catalog and Swift and repairs what can be repaired; a catalog
 * rebuilt from Swift alone, in a second island with an empty database, restores every snapshot.
 */
describe('fsck and catalog rebuild', () => {
  const island = useIsland();
  const io = guestIo(island);

  const fsck = (...args: string[]) => {
    const result = island.adminCli('fsck', ...args, '--json');
    return { code: result.code, report: JSON.parse(result.stdout || '{}') as Json, stderr: result.stderr };
  };

  it('reports wrong counts, orphans and corrupt blocks, and repairs what can be repaired', async () => {
    const volumeId = await io.createVolume(SIZE);
    const path = await io.attach(volumeId);
    const model = Buffer.alloc(SIZE);
    await io.write(path, 0, randomBytes(3 * MIB), model);
    await io.snapshot(volumeId);
    expect(fsck('--deep')).toMatchObject({ code: 0, report: { ok: true, problems: [] } });

    const db = new Client({ connectionString: island.databaseUrl });
    await db.connect();
    const swift = regionOneSwift();
    try {
      const [wrong] = (
        await db.query(`UPDATE block SET refcount = refcount + 2 WHERE state = 'present' AND refcount > 0 RETURNING encode(hash, 'hex') AS hash`)
      ).rows.slice(0, 1);
      const orphan = randomBytes(1000);
      const orphanHash = createHash('sha256').update(orphan).digest('hex');
      await swift.putObject(island.container, `blocks/${orphanHash}`, orphan);
      await swift.putObject(island.container, `manifests/${volumeId}/0000000099-00000000-0000-4000-8000-000000000000`, Buffer.from('not a manifest'));

      const found = fsck();
      expect(found.code).toBe(1);
      expect(found.report.ok).toBe(false);
      const problems = found.report.problems as Json[];
      expect(problems).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ kind: 'wrong-counts', hash: wrong.hash }),
          expect.objectContaining({ kind: 'orphan-block', hash: orphanHash, bytes: 1000 }),
          expect.objectContaining({ kind: 'orphan-manifest' }),
        ]),
      );

      const repaired = fsck('--repair');
      expect(repaired.report).toMatchObject({ ok: true, repaired: { orphanBlocks: 1, orphanManifests: 1 } });
      expect(fsck()).toMatchObject({ code: 0, report: { ok: true, problems: [] } });
      expect(await swift.objectExists(island.container, `blocks/${orphanHash}`)).toBe(false);

      // damage that cannot be repaired is reported, never hidden: a referenced block with other bytes
      const { rows } = await db.query(`SELECT encode(hash, 'hex') AS hash FROM block WHERE refcount > 0 LIMIT 1`);
      const victim = `blocks/${rows[0].hash}`;
      const original = await swift.getObject(island.container, victim);
      const damaged = Buffer.from(original);
      damaged[damaged.length - 1] ^= 0xff;
      await swift.putObject(island.container, victim, damaged);
      const deep = fsck('--deep', '--repair');
      expect(deep.code).toBe(1);
      expect(deep.report.problems).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'block-corrupt', hash: rows[0].hash })]));
      await swift.putObject(island.container, victim, original);
      expect(fsck('--deep')).toMatchObject({ code: 0, report: { ok: true } });
    } finally {
      await db.end();
      await swift.close();
    }
  }, 120_000);

  it('rebuilds volumes, snapshots and reference counts from Swift alone into an empty catalog', async () => {
    const volumeId = await io.createVolume(SIZE, { name: 'to-rebuild' });
    const path = await io.attach(volumeId);
    const model = Buffer.alloc(SIZE);
    const contents: [string, Buffer][] = [];
    await io.write(path, 0, randomBytes(4 * MIB), model);
    contents.push([String((await io.snapshot(volumeId)).id), Buffer.from(model)]);
    await io.write(path, MIB, randomBytes(MIB), model);
    await io.write(path, 2 * MIB, Buffer.alloc(MIB), model);
    const deleted = await io.snapshot(volumeId);
    await io.write(path, 6 * MIB, randomBytes(MIB), model);
    contents.push([String((await io.snapshot(volumeId)).id), Buffer.from(model)]);
    expect((await island.request('DELETE', `/v1/snapshots/${deleted.id}`)).status).toBe(202);
    expect(island.adminCli('gc', 'run', '--grace', '0', '--wait').code).toBe(0);

    // a second island with an empty catalog, on the same Swift container
    const second = await startIsland({ container: island.container });
    try {
      const io2 = guestIo(second);
      const rebuilt = second.adminCli('catalog', 'rebuild', '--region', 'RegionOne', '--wait', '--json');
      expect(rebuilt.code).toBe(0);
      const report = JSON.parse(rebuilt.stdout) as Json;
      expect(Number(report.volumesRebuilt)).toBeGreaterThanOrEqual(1);
      expect(report.snapshotsIncomplete).toBe(0);

      const snapshots = (await second.request<{ snapshots: Json[] }>('GET', `/v1/snapshots?volumeId=${volumeId}`)).body.snapshots;
      expect(snapshots.map((s) => s.id)).toEqual(contents.map(([id]) => id));
      expect((await second.request('GET', `/v1/volumes/${volumeId}`)).body).toMatchObject({ name: 'to-rebuild', sizeBytes: SIZE, status: 'available' });
      const check = second.adminCli('fsck', '--deep', '--json');
      expect(JSON.parse(check.stdout)).toMatchObject({ ok: true, problems: [] });
      for (const [id, content] of contents) {
        const clone = await io2.createVolume(SIZE, { snapshotId: id });
        expect((await io2.read(await io2.attach(clone))).equals(content)).toBe(true);
      }
      // the rebuilt volume itself attaches with its newest snapshot's content
      expect((await io2.read(await io2.attach(volumeId))).equals(contents[1][1])).toBe(true);
    } finally {
      await second.stop();
    }
  }, 180_000);
});
