import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { BlockEncoder, ManifestBuilder, SwiftBlockStore } from '@island/blockstore';
import { guestIo, regionOneSwift, startIsland, useIsland } from '@island/stack';

const MIB = 1 << 20;
const SIZE = 8 * MIB;
type Json = Record<string, unknown>;

/**
 * fsck finds what is wrong between the catalog and Swift and repairs what can be repaired; a catalog
 * rebuilt from Swift alone and the KEK, in a second island with an empty database, restores every snapshot.
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

      const corrupt = async (hash: string) => {
        const original = await swift.getObject(island.container, `blocks/${hash}`);
        const damaged = Buffer.from(original);
        damaged[damaged.length - 1] ^= 0xff;
        await swift.putObject(island.container, `blocks/${hash}`, damaged);
        return original;
      };
      // a corrupt block the volume still holds (its head, which its point in time on the host equals) is put back from it
      const head = (await db.query(`SELECT encode(hash, 'hex') AS hash FROM block_version WHERE volume_id = $1 AND last_seq IS NULL LIMIT 1`, [volumeId]))
        .rows[0].hash as string;
      await corrupt(head);
      const mended = fsck('--deep', '--repair');
      expect(mended).toMatchObject({ code: 0, report: { ok: true } });
      expect(mended.report.problems).toEqual([
        expect.objectContaining({ kind: 'block-repaired', hash: head, problem: 'corrupt', from: expect.stringMatching(new RegExp(`^volume ${volumeId} on `)) }),
      ]);
      expect(fsck('--deep')).toMatchObject({ code: 0, report: { ok: true, problems: [] } });

      // damage that cannot be repaired is reported, never hidden: a block only an older snapshot needs, with other bytes
      await io.write(path, 0, randomBytes(3 * MIB), model);
      await io.snapshot(volumeId);
      const { rows } = await db.query(
        `SELECT encode(v.hash, 'hex') AS hash FROM block_version v JOIN block b ON b.hash = v.hash WHERE v.volume_id = $1 AND v.last_seq IS NOT NULL AND b.refcount > 0 LIMIT 1`,
        [volumeId],
      );
      const victim = `blocks/${rows[0].hash}`;
      const original = await corrupt(rows[0].hash);
      // with no other region or volume to repair it from, it is marked damaged (its object deleted, for an upload to write it again)
      const deep = fsck('--deep', '--repair');
      expect(deep.code).toBe(1);
      expect(deep.report.problems).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ kind: 'block-corrupt', hash: rows[0].hash, damaged: expect.stringMatching(/no other region or volume/) }),
        ]),
      );
      expect(deep.report.damage).toMatchObject({ damagedBlocks: 1 });
      expect(fsck('--deep').report.problems).toEqual([expect.objectContaining({ kind: 'block-damaged', hash: rows[0].hash })]);
      // put back, it reads whole: the next repairing check clears the mark
      await swift.putObject(island.container, victim, original);
      expect(fsck('--deep', '--repair')).toMatchObject({
        code: 0,
        report: { ok: true, problems: [{ kind: 'damage-cleared', hash: rows[0].hash }], damage: { damagedBlocks: 0, damagedSnapshots: 0 } },
      });
      expect(fsck('--deep')).toMatchObject({ code: 0, report: { ok: true } });
    } finally {
      await db.end();
      await swift.close();
    }
  }, 120_000);

  it('reports a present block whose object is gone from Swift, having checked every present block once', async () => {
    const volumeId = await io.createVolume(SIZE);
    const path = await io.attach(volumeId);
    await io.write(path, 0, randomBytes(5 * MIB), Buffer.alloc(SIZE));
    await io.snapshot(volumeId);
    const db = new Client({ connectionString: island.databaseUrl });
    await db.connect();
    const swift = regionOneSwift();
    try {
      const present = Number((await db.query(`SELECT count(*) FROM block WHERE state = 'present'`)).rows[0].count);
      const hash = (await db.query(`SELECT encode(hash, 'hex') AS hash FROM block_version WHERE volume_id = $1 LIMIT 1`, [volumeId])).rows[0].hash as string;
      const original = await swift.getObject(island.container, `blocks/${hash}`);
      await swift.deleteObject(island.container, `blocks/${hash}`);
      const found = fsck();
      expect(found.code).toBe(1);
      expect(found.report.problems).toEqual([expect.objectContaining({ kind: 'block-missing', hash })]);
      expect(found.report.checked).toMatchObject({ blocks: present });
      await swift.putObject(island.container, `blocks/${hash}`, original);
      expect(fsck()).toMatchObject({ code: 0, report: { ok: true, problems: [], checked: { blocks: present } } });
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

    // an island with another KEK cannot open the projects' keys kept in Swift: the rebuild fails saying so
    const stranger = await startIsland({ container: island.container });
    try {
      const refused = stranger.adminCli('catalog', 'rebuild', '--region', 'RegionOne', '--wait', '--json');
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toMatch(/the key of project alpha is sealed by KEK [0-9a-f]{16}, which key file .* does not hold/);
    } finally {
      await stranger.stop();
    }

    // a second island with an empty catalog, on the same Swift container, with the KEK
    const second = await startIsland({ container: island.container, env: { ISLAND_KEK_FILE: island.kekFile } });
    try {
      const io2 = guestIo(second);
      const rebuilt = second.adminCli('catalog', 'rebuild', '--region', 'RegionOne', '--wait', '--json');
      expect(rebuilt.code).toBe(0);
      const report = JSON.parse(rebuilt.stdout) as Json;
      expect(Number(report.volumesRebuilt)).toBeGreaterThanOrEqual(1);
      expect(report).toMatchObject({ snapshotsIncomplete: 0, projectKeys: 1 });

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

  it('brings a snapshot that was in the recycle bin back into it, until the same time, from the marker GC keeps in Swift', async () => {
    const volumeId = await io.createVolume(SIZE, { name: 'bin-to-rebuild' });
    const path = await io.attach(volumeId);
    const model = Buffer.alloc(SIZE);
    const snapshots: { id: string; content: Buffer }[] = [];
    for (const at of [0, 2 * MIB, 4 * MIB]) {
      await io.write(path, at, randomBytes(2 * MIB), model);
      snapshots.push({ id: String((await io.snapshot(volumeId)).id), content: Buffer.from(model) });
    }
    const [binned, undeleted, kept] = snapshots;
    const markers = async () => [...(await island.swiftObjects('recycle-bin/')).keys()];
    let purgeAfter = '';
    expect(island.adminJson('quota', 'set', 'alpha', '--snapshot-retention', '3600')).toMatchObject({ snapshotRetentionSeconds: 3600 });
    try {
      purgeAfter = String(island.json<Json>('snapshot', 'delete', binned.id).purgeAfter);
      expect(island.json('snapshot', 'delete', undeleted.id)).toMatchObject({ status: 'recycled' });
    } finally {
      island.adminJson('quota', 'set', 'alpha', '--snapshot-retention', 'default');
    }
    const marker = `recycle-bin/${binned.id}/${Math.floor(Date.parse(purgeAfter) / 1000)}`;
    expect(await markers()).toEqual([]); // the API has no Swift: GC writes the markers
    expect(island.adminCli('gc', 'run', '--grace', '0', '--wait').code).toBe(0);
    const written = await markers();
    expect(written).toHaveLength(2);
    expect(written).toEqual(expect.arrayContaining([marker, expect.stringMatching(new RegExp(`^recycle-bin/${undeleted.id}/\\d+$`))]));
    expect(island.json('snapshot', 'undelete', undeleted.id)).toMatchObject({ status: 'available' });
    expect(island.adminCli('gc', 'run', '--grace', '0', '--wait').code).toBe(0);
    expect(await markers()).toEqual([marker]); // out of the bin: its marker removed

    const second = await startIsland({ container: island.container, env: { ISLAND_KEK_FILE: island.kekFile } });
    try {
      const rebuilt = second.adminJson<Json>('catalog', 'rebuild', '--region', 'RegionOne', '--wait');
      expect(rebuilt).toMatchObject({ snapshotsIncomplete: 0, snapshotsRecycled: 1 });
      const live = (await second.request<{ snapshots: Json[] }>('GET', `/v1/snapshots?volumeId=${volumeId}`)).body.snapshots;
      expect(live.map((s) => s.id)).toEqual([undeleted.id, kept.id]);
      const bin = second.json<{ snapshots: Json[] }>('snapshot', 'list', '--deleted').snapshots.filter((s) => s.volumeId === volumeId);
      expect(bin).toEqual([expect.objectContaining({ id: binned.id, status: 'recycled' })]);
      expect(Math.abs(Date.parse(String(bin[0].purgeAfter)) - Date.parse(purgeAfter))).toBeLessThan(1000); // kept to the second
      expect(second.adminJson('fsck', '--deep')).toMatchObject({ ok: true, problems: [] });

      const io2 = guestIo(second);
      expect(second.json('snapshot', 'undelete', binned.id)).toMatchObject({ status: 'available' });
      const clone = await io2.createVolume(SIZE, { snapshotId: binned.id });
      expect((await io2.read(await io2.attach(clone))).equals(binned.content)).toBe(true);
      expect(second.adminCli('gc', 'run', '--grace', '0', '--wait').code).toBe(0);
      expect(await markers()).toEqual([]);
    } finally {
      await second.stop();
    }
  }, 240_000);

  it("keeps a snapshot whose block is gone from Swift in error, and takes the next one's change against the last complete snapshot", async () => {
    const volumeId = await io.createVolume(SIZE, { name: 'gap-to-rebuild' });
    const path = await io.attach(volumeId);
    const model = Buffer.alloc(SIZE);
    await io.write(path, 0, randomBytes(4 * MIB), model);
    const first = { id: String((await io.snapshot(volumeId)).id), content: Buffer.from(model) };
    await io.write(path, MIB, randomBytes(2 * MIB), model);
    const gap = String((await io.snapshot(volumeId)).id);
    // the next snapshot writes block 1 again and a new block 5: block 1's content of the gap is named by the gap alone;
    // block 2's is the last snapshot's too, so its change must be taken against the first snapshot, not the gap
    await io.write(path, MIB, randomBytes(MIB), model);
    await io.write(path, 5 * MIB, randomBytes(MIB), model);
    const last = { id: String((await io.snapshot(volumeId)).id), content: Buffer.from(model) };

    const db = new Client({ connectionString: island.databaseUrl });
    await db.connect();
    const swift = regionOneSwift();
    let lost: string;
    try {
      const { rows } = await db.query(
        `SELECT encode(hash, 'hex') AS hash FROM block_version WHERE volume_id = $1 AND block_index = 1 AND first_seq = 2 AND last_seq = 3`,
        [volumeId],
      );
      expect(rows).toHaveLength(1);
      lost = rows[0].hash as string;
      await swift.deleteObject(island.container, `blocks/${lost}`);
    } finally {
      await db.end();
      await swift.close();
    }

    const second = await startIsland({ container: island.container, env: { ISLAND_KEK_FILE: island.kekFile } });
    try {
      const rebuilt = second.adminJson<Json>('catalog', 'rebuild', '--region', 'RegionOne', '--wait');
      expect(rebuilt).toMatchObject({ snapshotsIncomplete: 1 });
      const snapshots = (await second.request<{ snapshots: Json[] }>('GET', `/v1/snapshots?volumeId=${volumeId}`)).body.snapshots;
      expect(snapshots.map((s) => [s.id, s.status])).toEqual([
        [first.id, 'available'],
        [gap, 'error'],
        [last.id, 'available'],
      ]);
      expect(snapshots[1].statusReason).toBe('rebuilt from Swift: 1 block(s) its manifest names are missing');
      // what the rebuilt versions do not hold, GC deletes: every block a complete snapshot names must survive it
      expect(second.adminCli('gc', 'run', '--grace', '0', '--wait').code).toBe(0);
      const io2 = guestIo(second);
      for (const { id, content } of [first, last]) {
        const clone = await io2.createVolume(SIZE, { snapshotId: id });
        expect((await io2.read(await io2.attach(clone))).equals(content)).toBe(true);
      }
      // the volume's own newest state: blocks 0 and 3 from the first snapshot, 2 from the gap, 1 and 5 from the last
      expect((await io2.read(await io2.attach(volumeId))).equals(last.content)).toBe(true);
    } finally {
      await second.stop();
    }
  }, 240_000);

  it('keeps restoring data stored before encryption, alone and mixed with sealed blocks in a later snapshot', async () => {
    // what island wrote before encryption: plain blocks named by their SHA-256 and a plain manifest
    const container = `island-e2e-legacy-${randomUUID().slice(0, 8)}`;
    const swift = regionOneSwift();
    const legacy = new SwiftBlockStore(swift, container);
    const volumeId = randomUUID();
    const model = Buffer.alloc(SIZE);
    randomBytes(3 * MIB).copy(model);
    try {
      await legacy.ensureContainer();
      const encoder = new BlockEncoder();
      const builder = new ManifestBuilder(MIB, SIZE, {
        volumeId,
        snapshotId: randomUUID(),
        projectId: 'alpha',
        region: 'RegionOne',
        seq: 1,
        createdAt: new Date().toISOString(),
        name: 'before encryption',
        volumeName: 'legacy',
      });
      for (let k = 0; k < 3; k++) {
        const block = encoder.encode(model.subarray(k * MIB, (k + 1) * MIB));
        await legacy.putBlock(block);
        builder.add(k, block.hash);
      }
      await legacy.putWholeManifest(builder.build());
    } finally {
      await swift.close();
    }

    const second = await startIsland({ container });
    try {
      const io2 = guestIo(second);
      // a plain manifest authenticates nothing: left out unless the operator says the store predates encryption
      const cautious = second.adminJson<Json>('catalog', 'rebuild', '--region', 'RegionOne', '--wait');
      expect(cautious).toMatchObject({ projectKeys: 0, volumesRebuilt: 0, snapshotsRebuilt: 0, plainManifestsLeftOut: 1 });
      const rebuilt = second.adminJson<Json>('catalog', 'rebuild', '--region', 'RegionOne', '--accept-plain', '--wait');
      expect(rebuilt).toMatchObject({ projectKeys: 0, volumesRebuilt: 1, snapshotsRebuilt: 1, snapshotsIncomplete: 0, plainManifestsLeftOut: 0 });
      const path = await io2.attach(volumeId);
      expect((await io2.read(path)).equals(model)).toBe(true);

      // a new snapshot seals only what changed; its manifest names plain and sealed blocks side by side
      await io2.write(path, MIB, randomBytes(MIB), model);
      const mixed = await io2.snapshot(volumeId);
      expect(mixed).toMatchObject({ blocksUploaded: 1 });
      const headers = new Map<string, number>();
      const objects = await second.swiftObjects('blocks/');
      const check = regionOneSwift();
      try {
        for (const name of objects.keys()) headers.set(name, (await check.getObject(container, name))[4]);
      } finally {
        await check.close();
      }
      expect([...headers.values()].sort()).toEqual([1, 1, 1, 2]); // format 1 (plain) ×3, format 2 (sealed) ×1
      const clone = await io2.createVolume(SIZE, { snapshotId: mixed.id });
      expect((await io2.read(await io2.attach(clone))).equals(model)).toBe(true);
      expect(second.adminJson<Json>('fsck', '--deep')).toMatchObject({ ok: true, problems: [] });
    } finally {
      await second.stop();
    }
  }, 180_000);
});
