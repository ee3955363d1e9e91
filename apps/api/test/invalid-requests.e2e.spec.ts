import { randomUUID } from 'node:crypto';
import { guestIo, useIsland } from '@island/stack';

const MIB = 1 << 20;
type Json = Record<string, unknown>;

/**
 * Wrong input on every REST endpoint: each gets the 4xx it deserves with a message naming what is wrong,
 * and nothing in the catalog changes.
 */
describe('invalid requests on every endpoint', () => {
  const island = useIsland();
  const io = guestIo(island);
  let volumeId: string;
  let snapshotId: string;
  let otherVolumeId: string;

  beforeAll(async () => {
    volumeId = await io.createVolume(8 * MIB, { name: 'subject' });
    const path = await io.attach(volumeId);
    await io.write(path, 0, Buffer.alloc(MIB, 7));
    snapshotId = String((await io.snapshot(volumeId)).id);
    otherVolumeId = await io.createVolume(8 * MIB);
  }, 90_000);

  const catalog = async () => ({
    volumes: (await island.request<{ volumes: Json[] }>('GET', '/v1/volumes')).body.volumes
      .map((v) => `${String(v.id)}:${String(v.status)}:${String(v.sizeBytes)}`)
      .sort(),
    snapshots: (await island.request<{ snapshots: Json[] }>('GET', '/v1/snapshots')).body.snapshots.map((s) => `${String(s.id)}:${String(s.status)}`).sort(),
  });

  type Case = [string, string, string, () => object | undefined, number, RegExp, string?];
  const cases: Case[] = [
    ['create a volume without a size', 'POST', '/v1/volumes', () => ({}), 400, /sizeBytes/],
    ['create a volume of a negative size', 'POST', '/v1/volumes', () => ({ sizeBytes: -1 }), 400, /sizeBytes/],
    ['create a volume of a size given as text', 'POST', '/v1/volumes', () => ({ sizeBytes: '10G' }), 400, /sizeBytes/],
    ['create a volume whose size is not whole sectors', 'POST', '/v1/volumes', () => ({ sizeBytes: 8 * MIB + 100 }), 400, /multiple of 512/],
    ['create a volume with an unknown field', 'POST', '/v1/volumes', () => ({ sizeBytes: 8 * MIB, colour: 'red' }), 400, /colour/],
    ['create a volume with an overlong name', 'POST', '/v1/volumes', () => ({ sizeBytes: 8 * MIB, name: 'n'.repeat(300) }), 400, /name/],
    ['create a volume in an unknown region', 'POST', '/v1/volumes', () => ({ sizeBytes: 8 * MIB, region: 'Atlantis' }), 400, /unknown region/],
    ['create a volume from a malformed snapshot id', 'POST', '/v1/volumes', () => ({ sizeBytes: 8 * MIB, snapshotId: 'snap-1' }), 400, /snapshotId/],
    ['create a volume from a snapshot that does not exist', 'POST', '/v1/volumes', () => ({ sizeBytes: 8 * MIB, snapshotId: randomUUID() }), 404, /not found/],
    ['create a volume smaller than its snapshot', 'POST', '/v1/volumes', () => ({ sizeBytes: MIB, snapshotId }), 400, /smaller than snapshot/],
    ['create a volume from a snapshot with a size given as text', 'POST', '/v1/volumes', () => ({ sizeBytes: '10G', snapshotId }), 400, /sizeBytes/],
    [
      'show a volume by a malformed id (a path that stays inside the route)',
      'GET',
      '/v1/volumes/..%2F..%2Fetc',
      () => undefined,
      404,
      /volume ..\/..\/etc not found/,
    ],
    ['show a volume that does not exist', 'GET', `/v1/volumes/${randomUUID()}`, () => undefined, 404, /not found/],
    ["show another project's volume", 'GET', '/v1/volumes/:volume', () => undefined, 404, /not found/, 'other'],
    ['attach without a host', 'POST', '/v1/volumes/:other/attach', () => ({}), 400, /host/],
    ['attach to a malformed host name', 'POST', '/v1/volumes/:other/attach', () => ({ host: 'no such host!' }), 400, /host/],
    ['attach to an unknown host', 'POST', '/v1/volumes/:other/attach', () => ({ host: 'nowhere' }), 404, /host nowhere not found/],
    ['revert without a snapshot', 'POST', '/v1/volumes/:volume/revert', () => ({}), 400, /snapshotId/],
    ["revert to another volume's snapshot", 'POST', '/v1/volumes/:other/revert', () => ({ snapshotId: ':snapshot' }), 400, /not a snapshot of volume/],
    ['revert an attached volume', 'POST', '/v1/volumes/:volume/revert', () => ({ snapshotId: ':snapshot' }), 409, /attached/],
    ['shrink a volume', 'POST', '/v1/volumes/:other/extend', () => ({ sizeBytes: 4 * MIB }), 400, /only grow/],
    ['extend by a size that is not whole sectors', 'POST', '/v1/volumes/:other/extend', () => ({ sizeBytes: 16 * MIB + 1 }), 400, /multiple of 512/],
    ['delete an attached volume', 'DELETE', '/v1/volumes/:volume', () => undefined, 409, /attached/],
    ['delete with cascade neither true nor false', 'DELETE', '/v1/volumes/:other?cascade=yes', () => undefined, 400, /cascade/],
    ['snapshot without a volume', 'POST', '/v1/snapshots', () => ({}), 400, /volumeId/],
    ['snapshot a malformed volume id', 'POST', '/v1/snapshots', () => ({ volumeId: 'vol-1' }), 400, /volumeId/],
    ['snapshot a volume that does not exist', 'POST', '/v1/snapshots', () => ({ volumeId: randomUUID() }), 404, /not found/],
    ['snapshot with an overlong name', 'POST', '/v1/snapshots', () => ({ volumeId: ':volume', name: 'n'.repeat(300) }), 400, /name/],
    ['list the snapshots of a malformed volume id', 'GET', '/v1/snapshots?volumeId=x', () => undefined, 404, /not found/],
    ['show a snapshot that does not exist', 'GET', `/v1/snapshots/${randomUUID()}`, () => undefined, 404, /not found/],
    ["delete another project's snapshot", 'DELETE', '/v1/snapshots/:snapshot', () => undefined, 404, /not found/, 'other'],
    [
      'attach with an export island does not offer',
      'POST',
      '/v1/volumes/:other/attach',
      () => ({ host: 'nowhere', export: 'iscsi' }),
      400,
      /export must be 'nbd', 'raw' or 'block'/,
    ],
    ['snapshot a group of one volume', 'POST', '/v1/snapshots/groups', () => ({ volumeIds: [':volume'] }), 400, /volumeIds/],
    ['snapshot a group naming a volume twice', 'POST', '/v1/snapshots/groups', () => ({ volumeIds: [':volume', ':volume'] }), 400, /lists a volume twice/],
    ['snapshot a group with a malformed volume id', 'POST', '/v1/snapshots/groups', () => ({ volumeIds: [':volume', 'vol-2'] }), 400, /volumeIds/],
    ['snapshot a group with a volume that does not exist', 'POST', '/v1/snapshots/groups', () => ({ volumeIds: [':volume', randomUUID()] }), 404, /not found/],
    ['copy a snapshot without a region', 'POST', '/v1/snapshots/:snapshot/copy', () => ({}), 400, /region/],
    [
      'copy a snapshot to a malformed region name',
      'POST',
      '/v1/snapshots/:snapshot/copy',
      () => ({ region: 'no region!' }),
      400,
      /region must be a region name/,
    ],
    ['copy a snapshot to an unknown region', 'POST', '/v1/snapshots/:snapshot/copy', () => ({ region: 'Atlantis' }), 400, /unknown region Atlantis/],
    ['copy a snapshot that does not exist', 'POST', `/v1/snapshots/${randomUUID()}/copy`, () => ({ region: 'RegionOne' }), 404, /not found/],
    ["copy another project's snapshot", 'POST', '/v1/snapshots/:snapshot/copy', () => ({ region: 'RegionOne' }), 404, /not found/, 'other'],
    ['show an operation by a malformed id', 'GET', '/v1/operations/42', () => undefined, 404, /not found/],
    ['run GC without the admin token', 'POST', '/v1/gc/runs', () => ({}), 403, /admin/],
    ['run GC with a negative grace', 'POST', '/v1/gc/runs', () => ({ graceSeconds: -5 }), 400, /graceSeconds/, 'admin'],
    ['run fsck with a non-boolean flag', 'POST', '/v1/fsck', () => ({ deep: 'yes' }), 400, /deep/, 'admin'],
    ['rebuild a catalog without a region', 'POST', '/v1/catalog/rebuild', () => ({}), 400, /region/, 'admin'],
    [
      'list volumes with a query parameter no route takes',
      'GET',
      '/v1/volumes?limt=5',
      () => undefined,
      400,
      /query parameter limt should not exist \(this route takes marker, limit\)/,
    ],
    [
      'list snapshots by a mistyped filter (not answered unfiltered)',
      'GET',
      '/v1/snapshots?volumeID=:volume',
      () => undefined,
      400,
      /query parameter volumeID should not exist \(this route takes volumeId, deleted, marker, limit\)/,
    ],
    [
      'delete a snapshot with a mistyped option',
      'DELETE',
      '/v1/snapshots/:snapshot?purg=true',
      () => undefined,
      400,
      /query parameter purg should not exist \(this route takes purge\)/,
    ],
    ['call with an unknown query parameter and without a token', 'GET', '/v1/volumes?limit=5', () => undefined, 401, /bearer token/, 'none'],
    ['call without a token', 'GET', '/v1/volumes', () => undefined, 401, /bearer token/, 'none'],
    ['call with an unknown token', 'GET', '/v1/volumes', () => undefined, 401, /unknown token/, 'bogus'],
  ];

  // every row names its caller: a test function with more parameters than its row would be taken for a `done` callback
  const rows = cases.map((c): Required<Case> => [c[0], c[1], c[2], c[3], c[4], c[5], c[6] ?? 'project']);
  it.each(rows)('refuses to %s', async (_, method, template, body, status, message, who) => {
    const before = await catalog();
    const fill = (text: string) => text.replaceAll(':volume', volumeId).replaceAll(':other', otherVolumeId).replaceAll(':snapshot', snapshotId);
    const payload = body();
    const filled = payload === undefined ? undefined : (JSON.parse(fill(JSON.stringify(payload))) as object);
    const token = { project: island.token, other: island.otherToken, admin: island.adminToken, none: '', bogus: 'not-a-token' }[who];
    const res = await fetch(`${island.api}${fill(template)}`, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(filled ? { 'content-type': 'application/json' } : {}) },
      body: filled ? JSON.stringify(filled) : undefined,
    });
    const text = await res.text();
    expect({ status: res.status, text }).toEqual({ status, text: expect.stringMatching(message) });
    expect(await catalog()).toEqual(before);
  });

  it('refuses a JSON body sent as another type with 415, naming the type, and creates nothing', async () => {
    const before = await catalog();
    const res = await fetch(`${island.api}/v1/volumes`, {
      method: 'POST',
      headers: { authorization: `Bearer ${island.token}`, 'content-type': 'text/plain' },
      body: JSON.stringify({ sizeBytes: 8 * MIB }),
    });
    expect({ status: res.status, text: await res.text() }).toEqual({
      status: 415,
      text: expect.stringContaining('the body must be JSON (Content-Type: application/json), not text/plain'),
    });
    expect(await catalog()).toEqual(before);
  });

  it('refuses a body that is not JSON', async () => {
    const res = await fetch(`${island.api}/v1/volumes`, {
      method: 'POST',
      headers: { authorization: `Bearer ${island.token}`, 'content-type': 'application/json' },
      body: '{"sizeBytes": ',
    });
    expect(res.status).toBe(400);
  });
});
