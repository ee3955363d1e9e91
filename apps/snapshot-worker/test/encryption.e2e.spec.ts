import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { Client } from 'pg';
import { guestIo, IslandStack, pollUntil, regionOneSwift, useIsland } from '@island/stack';

const MIB = 1 << 20;
const SIZE = 4 * MIB;
type Json = Record<string, unknown>;

/** The stack as project beta's member sees it (its token on every request); read when used (the stack starts later). */
function asBeta(island: IslandStack): IslandStack {
  const request: IslandStack['request'] = (method, path, body, token) => island.request(method, path, body, token ?? island.otherToken);
  return new Proxy(island, { get: (target, key) => (key === 'request' ? request : Reflect.get(target, key)) });
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/**
 * Encryption at rest: every block and manifest is sealed under its project's key before it leaves the host, named by
 * the project's keyed hash, so Swift holds no plaintext, no name says what a block holds, and dedup stays inside a
 * project. KEK rotation re-wraps keys without touching data; shredding a project's key makes its snapshots unreadable.
 */
describe('encryption at rest', () => {
  // one worker: restarting it clears every cached project key
  const island = useIsland({ workers: 1 });
  const alpha = guestIo(island);
  const beta = guestIo(asBeta(island));
  const marker = Buffer.from(`island-marker-${randomBytes(8).toString('hex')}`);
  // block 0 compresses (the marker, repeated); block 1 does not (random, the marker inside)
  const content = Buffer.alloc(SIZE);
  content.fill(marker, 0, MIB);
  randomBytes(MIB).copy(content, MIB);
  marker.copy(content, MIB + 4096);
  const taken: { alpha?: Json; beta?: Json } = {};

  const snapshotOfContent = async (io: ReturnType<typeof guestIo>) => {
    const volumeId = await io.createVolume(SIZE);
    await io.write(await io.attach(volumeId), 0, content.subarray(0, 2 * MIB));
    return io.snapshot(volumeId);
  };

  it('stores no plaintext and no plain SHA-256 name, keeps two projects’ identical blocks apart, and uploads nothing for the same data again', async () => {
    taken.alpha = await snapshotOfContent(alpha);
    taken.beta = await snapshotOfContent(beta);
    expect(taken.alpha).toMatchObject({ blocksUploaded: 2, blocksReused: 0 });
    // the same blocks in another project: stored again, and beta learns nothing of alpha's
    expect(taken.beta).toMatchObject({ blocksUploaded: 2, blocksReused: 0 });

    const swift = regionOneSwift();
    try {
      const objects = await island.swiftObjects('');
      const plainNames = [0, 1].map((k) => sha256(content.subarray(k * MIB, (k + 1) * MIB)));
      for (const name of objects.keys()) {
        expect(plainNames.some((h) => name.includes(h))).toBe(false);
        const body = await swift.getObject(island.container, name);
        expect(body.includes(marker)).toBe(false);
        for (const h of plainNames) expect(body.includes(Buffer.from(h, 'hex'))).toBe(false);
      }
      const blocks = [...objects.keys()].filter((n) => n.startsWith('blocks/'));
      const [alphaKeys, betaKeys] = [await island.projectKeys('alpha'), await island.projectKeys('beta')];
      const named = (keys: typeof alphaKeys) => [0, 1].map((k) => `blocks/${keys.blockName(content.subarray(k * MIB, (k + 1) * MIB)).toString('hex')}`);
      expect(blocks.sort()).toEqual([...named(alphaKeys), ...named(betaKeys)].sort());
      expect([...objects.keys()].filter((n) => n.startsWith('keys/')).sort()).toEqual(['keys/alpha', 'keys/beta']);
      const wrapped = JSON.parse((await swift.getObject(island.container, 'keys/alpha')).toString()) as Json;
      expect(wrapped).toMatchObject({ projectId: 'alpha', kekId: expect.stringMatching(/^[0-9a-f]{16}$/) });
      expect(readFileSync(island.kekFile, 'utf8')).not.toContain(String(wrapped.sealed));
    } finally {
      await swift.close();
    }

    // a third snapshot of the same data in one project uploads nothing
    expect(await snapshotOfContent(alpha)).toMatchObject({ blocksUploaded: 0, blocksReused: 2, bytesUploaded: 0 });
    // and each project's snapshot restores bit-exact with its own key
    const clone = await beta.createVolume(SIZE, { snapshotId: taken.beta.id });
    expect((await beta.read(await beta.attach(clone))).equals(Buffer.concat([content.subarray(0, 2 * MIB), Buffer.alloc(2 * MIB)]))).toBe(true);
  }, 180_000);

  it('refuses another project’s object under the right name: the restore fails naming the block, writes no image, and fsck reports it', async () => {
    const db = new Client({ connectionString: island.databaseUrl });
    await db.connect();
    const swift = regionOneSwift();
    try {
      // each project's compressed block (the same size in both projects: the same content, sealed), then its raw one
      const { rows } = await db.query<{ hash: string; project_id: string }>(
        `SELECT encode(hash, 'hex') AS hash, project_id FROM block WHERE region = 'RegionOne' AND size = $1 ORDER BY project_id, stored_size`,
        [MIB],
      );
      const victim = rows.find((r) => r.project_id === 'alpha')!.hash;
      const intruder = rows.find((r) => r.project_id === 'beta')!.hash;
      const original = await swift.getObject(island.container, `blocks/${victim}`);
      await swift.putObject(island.container, `blocks/${victim}`, await swift.getObject(island.container, `blocks/${intruder}`));
      try {
        const clone = await alpha.createVolume(SIZE, { snapshotId: taken.alpha!.id });
        expect((await island.request('POST', `/v1/volumes/${clone}/attach`, { host: island.host })).status).toBe(202);
        const failed = await pollUntil(island, `/v1/volumes/${clone}`, (v) => v.status === 'available' && v.statusReason !== null, { timeoutMs: 60_000 });
        expect(String(failed.statusReason)).toContain(`blocks/${victim}`);
        expect(String(failed.statusReason)).toMatch(/does not authenticate/);
        expect(existsSync(`${island.dataDir}/volumes/${clone}.qcow2`)).toBe(false);
        expect(existsSync(`${island.dataDir}/volumes/${clone}.qcow2.restoring`)).toBe(false);

        // a flipped bit in another block, and a third cut short: fsck --deep names all three (the cut one by its size)
        const flipped = rows.find((r) => r.project_id === 'beta' && r.hash !== intruder)!.hash;
        const flippedOriginal = await swift.getObject(island.container, `blocks/${flipped}`);
        const damaged = Buffer.from(flippedOriginal);
        damaged[damaged.length >> 1] ^= 0x01;
        await swift.putObject(island.container, `blocks/${flipped}`, damaged);
        const cut = intruder;
        const cutOriginal = await swift.getObject(island.container, `blocks/${cut}`);
        await swift.putObject(island.container, `blocks/${cut}`, cutOriginal.subarray(0, cutOriginal.length - 100));
        try {
          const check = island.adminCli('fsck', '--deep', '--json');
          expect(check.code).toBe(1);
          const problems = JSON.parse(check.stdout).problems as Json[];
          const corrupt = problems.filter((p) => p.kind === 'block-corrupt').map((p) => p.hash);
          expect(corrupt.sort()).toEqual([victim, flipped].sort());
          expect(problems).toContainEqual(expect.objectContaining({ kind: 'block-size', hash: cut, swiftBytes: cutOriginal.length - 100 }));
        } finally {
          await swift.putObject(island.container, `blocks/${flipped}`, flippedOriginal);
          await swift.putObject(island.container, `blocks/${cut}`, cutOriginal);
        }
      } finally {
        await swift.putObject(island.container, `blocks/${victim}`, original);
      }
      expect(JSON.parse(island.adminCli('fsck', '--deep', '--json').stdout)).toMatchObject({ ok: true });
    } finally {
      await swift.close();
      await db.end();
    }
  }, 180_000);

  it('rotates the KEK without touching a block, then shreds a project so that its snapshots no longer restore', async () => {
    const blocksBefore = await island.swiftObjects('blocks/');
    const before = island.adminJson<{ keys: Json[] }>('keys', 'list').keys;
    expect(before.map((k) => k.projectId)).toEqual(['alpha', 'beta']);
    const oldKek = before[0].kekId;

    const rotated = island.adminJson<Json>('keys', 'rotate');
    expect(rotated).toMatchObject({ rewrapped: 2, retiredKeks: [oldKek], unopenable: [], swiftCopiesWritten: 2 });
    expect(rotated.kekId).not.toBe(oldKek);
    expect(readFileSync(island.kekFile, 'utf8').trim().split('\n')).toHaveLength(1);
    expect(island.adminJson<{ keys: Json[] }>('keys', 'list').keys.map((k) => k.kekId)).toEqual([rotated.kekId, rotated.kekId]);
    expect(await island.swiftObjects('blocks/')).toEqual(blocksBefore);
    // a worker started after the rotation opens alpha's snapshot with the new KEK
    await island.crash('worker-1');
    await island.revive('worker-1');
    const clone = await alpha.createVolume(SIZE, { snapshotId: taken.alpha!.id });
    expect((await alpha.read(await alpha.attach(clone), 2 * MIB)).equals(content.subarray(0, 2 * MIB))).toBe(true);

    // a volume of beta's snapshot, made before the shredding and not placed yet
    const lost = await beta.createVolume(SIZE, { snapshotId: taken.beta!.id });
    // shredding: not without a confirmation, and not by a project member
    expect(island.adminCli('keys', 'shred', 'beta').stderr).toMatch(/needs a confirmation: pass --confirm/);
    expect(island.adminCli('keys', 'shred', 'beta', '--confirm', 'alpha').stderr).toMatch(/not confirmed/);
    expect((await island.request('POST', '/v1/projects/beta/key/shred', { confirm: 'beta' }, island.otherToken)).status).toBe(403);
    expect(island.adminJson<Json>('keys', 'shred', 'beta', '--confirm', 'beta')).toMatchObject({ projectId: 'beta', swiftCopiesDeleted: 1 });
    expect((await island.swiftObjects('keys/')).has('keys/beta')).toBe(false);
    await island.crash('worker-1'); // workers keep a project's keys for up to a minute
    await island.revive('worker-1');
    expect((await island.request('POST', `/v1/volumes/${lost}/attach`, { host: island.host }, island.otherToken)).status).toBe(202);
    const failed = await pollUntil(asBeta(island), `/v1/volumes/${lost}`, (v) => v.status === 'available' && v.statusReason !== null, { timeoutMs: 60_000 });
    expect(String(failed.statusReason)).toMatch(/the key of project beta was shredded at .*: its snapshots can no longer be read/);
    // and the API refuses what could only fail: a volume of its snapshot, a new snapshot
    const refused = await island.request<Json>('POST', '/v1/volumes', { sizeBytes: SIZE, snapshotId: taken.beta!.id }, island.otherToken);
    expect(refused).toMatchObject({ status: 409, body: { message: expect.stringMatching(/the key of project beta was shredded/) } });
    expect((await island.request('POST', '/v1/snapshots', { volumeId: lost }, island.otherToken)).status).toBe(409);
    const blockRead = await island.request<Json>('GET', `/v1/snapshots/${taken.beta!.id}/blocks/0`, undefined, island.otherToken);
    expect(blockRead).toMatchObject({ status: 409, body: { message: expect.stringMatching(/the key of project beta was shredded/) } });
    // fsck lists the project as shredded, not its objects as damaged
    expect(JSON.parse(island.adminCli('fsck', '--deep', '--json').stdout)).toMatchObject({ ok: true, shreddedProjects: ['beta'] });
  }, 240_000);
});
