import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { guestIo, IslandStack, startIsland, useIsland } from '@island/stack';

const GIB = 1024 ** 3;
const MIB = 1 << 20;
const CLIENT = join(__dirname, 'oslo', 'rpc_client.py');
const PROJECT = 'alpha'; // the project the stack's e2e token sees
type Json = Record<string, unknown>;

interface RpcCall {
  method: string;
  kwargs?: Json;
  context?: Json;
  cast?: boolean;
  fanout?: boolean;
  server?: string;
  version?: string;
  namespace?: string;
  timeout?: number;
  call_monitor_timeout?: number;
  concurrent?: number;
}
type Outcome = {
  result?: unknown;
  error?: { class: string; module: string; message: string; kwargs: Json | null; remote_class?: string };
  results?: Outcome[];
};

/**
 * Cinder's way in, on the real services: Debian's python3-oslo.messaging RPCClient calls island's API over
 * the real RabbitMQ with no bridge. A volume is created, attached, written, snapshotted, cloned, extended,
 * reverted and deleted through RPC alone; failures arrive as the classes Cinder raises.
 */
describe('Cinder drives island over oslo.messaging', () => {
  const island = useIsland();
  const io = guestIo(island);
  const context = { project_id: PROJECT, user_id: 'cinder-user', request_id: 'req-e2e', auth_token: 'never-logged-secret' };

  /** Runs calls with the Python client against a stack, in one process, in order. */
  const rpcOn = (stack: IslandStack, calls: RpcCall[]): Outcome[] => {
    const request = { url: stack.rpc.url, exchange: stack.rpc.exchange, topic: stack.rpc.topic, calls: calls.map((c) => ({ context, ...c })) };
    const run = spawnSync('/usr/bin/python3', [CLIENT], { input: JSON.stringify(request), encoding: 'utf8', timeout: 600_000 });
    if (run.status !== 0) throw new Error(`rpc_client.py exited ${run.status}: ${run.stderr}`);
    return run.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Outcome);
  };
  const rpc = (...calls: RpcCall[]): Outcome[] => rpcOn(island, calls);
  const call = (method: string, kwargs: Json = {}, options: Partial<RpcCall> = {}): unknown => {
    const [outcome] = rpc({ method, kwargs, ...options });
    if (outcome.error) throw new Error(`${method}: ${JSON.stringify(outcome.error)}`);
    return outcome.result;
  };
  const volume = (id: string, size = 1, extra: Json = {}) => ({
    id,
    size,
    project_id: PROJECT,
    display_name: `rpc-${id.slice(0, 8)}`,
    status: 'creating',
    ...extra,
  });
  const snapshot = (id: string, volumeId: string) => ({ id, volume_id: volumeId, volume_size: 1, project_id: PROJECT, display_name: 'rpc-snap' });
  // file mode: the qcow2 image itself, written by island's writer as a stopped guest's disk would be
  const connector = () => ({ host: island.host, initiator: 'iqn.1993-08.org.debian:01:e2e', ip: '127.0.0.1', multipath: false, island_export: 'file' });
  const devicePath = (info: unknown) => (info as { data: { device_path: string } }).data.device_path;
  const imageBytes = (path: string, length: number) => io.read(path, length);

  it('creates, attaches, snapshots, clones, extends, reverts and deletes a volume through RPC alone', async () => {
    const v1 = randomUUID();
    expect(call('create_volume', { volume: volume(v1) })).toEqual({ provider_location: `island://RegionOne/volumes/${v1}` });
    expect((await island.request('GET', `/v1/volumes/${v1}`)).body).toMatchObject({ id: v1, sizeBytes: GIB, status: 'available' });
    expect(call('create_volume', { volume: volume(v1) })).toMatchObject({ provider_location: expect.any(String) }); // a retry is harmless

    const connection = call('initialize_connection', { volume: volume(v1), connector: connector() }) as Json;
    expect(connection).toMatchObject({ driver_volume_type: 'local', data: { format: 'qcow2', volume_id: v1 } });
    const path = devicePath(connection);
    const model = Buffer.alloc(16 * MIB);
    await io.write(path, 0, randomBytes(4 * MIB), model);

    const s1 = randomUUID();
    expect(call('create_snapshot', { snapshot: snapshot(s1, v1) })).toMatchObject({ provider_location: expect.stringContaining(s1) });
    const atS1 = Buffer.from(model);
    await io.write(path, 2 * MIB, randomBytes(3 * MIB), model); // the point in time is safe: writing on is fine
    const s2 = randomUUID();
    call('create_snapshot', { snapshot: snapshot(s2, v1) });
    const atS2 = Buffer.from(model);
    await io.until(`/v1/snapshots/${s2}`, (s) => s.status === 'available', 'snapshot s2');
    expect(call('get_snapshot', { snapshot: snapshot(s1, v1) })).toMatchObject({ id: s1, status: 'available', progress: 100 });

    const v2 = randomUUID();
    call('create_volume_from_snapshot', { volume: volume(v2), snapshot: snapshot(s1, v1) });
    const p2 = devicePath(call('initialize_connection', { volume: volume(v2), connector: connector() }));
    expect((await imageBytes(p2, atS1.length)).equals(atS1)).toBe(true);

    const v3 = randomUUID();
    call('create_cloned_volume', { volume: volume(v3), src_vref: volume(v1) });
    const p3 = devicePath(call('initialize_connection', { volume: volume(v3), connector: connector() }));
    expect((await imageBytes(p3, model.length)).equals(model)).toBe(true);
    expect((await island.request<{ snapshots: Json[] }>('GET', `/v1/snapshots?volumeId=${v1}`)).body.snapshots.map((s) => s.id)).toEqual([s1, s2]);

    call('extend_volume', { volume: volume(v1), new_size: 2 });
    expect((await island.request('GET', `/v1/volumes/${v1}`)).body).toMatchObject({ sizeBytes: 2 * GIB, status: 'in-use' });
    const info = JSON.parse(execFileSync('qemu-img', ['info', '-U', '--output=json', path], { encoding: 'utf8' })) as { 'virtual-size': number };
    expect(info['virtual-size']).toBe(2 * GIB);

    call('terminate_connection', { volume: volume(v1), connector: connector() });
    call('revert_to_snapshot', { volume: volume(v1), snapshot: snapshot(s1, v1) });
    expect((await imageBytes(path, atS1.length)).equals(atS1)).toBe(true);
    call('revert_to_snapshot', { volume: volume(v1), snapshot: snapshot(s2, v1) }); // any snapshot, not only the newest
    expect((await imageBytes(path, atS2.length)).equals(atS2)).toBe(true);

    // a volume made through island's own API is not Cinder's: its pool statistics leave it out
    const own = await io.createVolume(GIB);
    const stats = call('get_volume_stats', { refresh: true }) as Json;
    for (const key of ['volume_backend_name', 'vendor_name', 'storage_protocol', 'total_capacity_gb', 'free_capacity_gb']) expect(stats).toHaveProperty(key);
    expect(stats).toMatchObject({ volume_backend_name: 'island', thin_provisioning_support: true, online_extend_support: false });
    expect(stats).toMatchObject({ total_volumes: 3, provisioned_capacity_gb: 4, island_total_volumes: 4, island_provisioned_capacity_gb: 5 });
    await io.deleteVolume(own);

    // a connector asking for island's export: the volume is served over NBD by the host's storage daemon
    const v4 = randomUUID();
    call('create_volume_from_snapshot', { volume: volume(v4), snapshot: snapshot(s2, v1) });
    const served = call('initialize_connection', { volume: volume(v4), connector: { ...connector(), island_export: 'nbd' } }) as Json;
    expect(served).toMatchObject({ driver_volume_type: 'nbd', data: { export_name: v4, nbd_uri: expect.stringMatching(/^nbd\+unix:\/\/\//) } });
    const copy = join(island.dataDir, 'nbd-read.raw');
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', (served.data as Json).nbd_uri as string, copy]);
    expect(readFileSync(copy).subarray(0, atS2.length).equals(atS2)).toBe(true);
    expect(call('terminate_connection', { volume: volume(v4), connector: connector() })).toBeNull();
    expect((await island.request('GET', `/v1/volumes/${v4}`)).body).toMatchObject({ status: 'available', connection: null });
    expect(call('delete_volume', { volume: volume(v4) })).toBeNull();

    for (const id of [s1, s2]) expect(call('delete_snapshot', { snapshot: snapshot(id, v1) })).toBeNull();
    for (const id of [v2, v3]) call('terminate_connection', { volume: volume(id), connector: connector() });
    for (const id of [v1, v2, v3]) expect(call('delete_volume', { volume: volume(id) })).toBeNull();
    expect((await island.request('GET', `/v1/volumes/${v1}`)).status).toBe(404);
    expect(call('delete_volume', { volume: volume(v1) })).toBeNull(); // deleting what is gone succeeds
    expect(call('delete_snapshot', { snapshot: snapshot(s1, v1) })).toBeNull();
  }, 300_000);

  it('answers failures with the Cinder exception classes and kwargs, and bad calls as Python would', async () => {
    const [missing, badSize, unknownArg, noArg, notObject, busy] = rpc(
      { method: 'create_snapshot', kwargs: { snapshot: snapshot(randomUUID(), '00000000-0000-4000-8000-000000000000') } },
      { method: 'create_volume', kwargs: { volume: volume(randomUUID(), 0) } },
      { method: 'create_volume', kwargs: { volume: volume(randomUUID()), colour: 'blue' } },
      { method: 'delete_volume', kwargs: {} },
      { method: 'create_volume', kwargs: { volume: 'vol-1' } },
      { method: 'extend_volume', kwargs: { volume: volume(randomUUID()), new_size: 'big' } },
    );
    // python3-cinder is installed (scripts/services.sh test-packages): Cinder's classes come back with their kwargs
    expect(missing.error).toMatchObject({ class: 'VolumeNotFound_Remote', kwargs: { volume_id: '00000000-0000-4000-8000-000000000000' } });
    expect(badSize.error).toMatchObject({ class: 'InvalidInput_Remote', kwargs: { reason: expect.stringMatching(/size must not be less than 1/) } });
    expect(unknownArg.error).toMatchObject({ class: 'TypeError', message: expect.stringContaining("unexpected keyword argument 'colour'") });
    expect(noArg.error).toMatchObject({ class: 'TypeError', message: expect.stringContaining("'volume'") });
    expect(notObject.error).toMatchObject({ class: 'InvalidInput_Remote', kwargs: { reason: expect.stringContaining('volume must be an object') } });
    // failures are logged with their request's context, never with its auth token
    for (let i = 0; i < 50 && !island.logs().includes('req-e2e'); i++) await new Promise((r) => setTimeout(r, 50)); // pipes drain
    expect(island.logs()).toMatch(/RPC create_snapshot failed: cinder.exception.VolumeNotFound.*req-e2e/);
    expect(island.logs()).not.toMatch(/never-logged-secret/);
    expect(busy.error).toMatchObject({ class: 'InvalidInput_Remote', kwargs: { reason: expect.stringContaining('new_size') } });
  }, 60_000);

  it('rejects an unknown method, a newer version and a foreign namespace as oslo does', () => {
    const [method, newer, major, namespace] = rpc(
      { method: 'format_everything' },
      { method: 'get_volume_stats', version: '1.9' },
      { method: 'get_volume_stats', version: '2.0' },
      { method: 'get_volume_stats', namespace: 'elsewhere' },
    );
    expect(method.error).toMatchObject({ class: 'RemoteError', remote_class: 'NoSuchMethod' });
    expect(newer.error).toMatchObject({ class: 'RemoteError', remote_class: 'UnsupportedVersion' });
    expect(major.error).toMatchObject({ class: 'RemoteError', remote_class: 'UnsupportedVersion' });
    expect(namespace.error).toMatchObject({ class: 'RemoteError', remote_class: 'UnsupportedVersion' });
    expect(rpc({ method: 'get_volume_stats', version: '1.0' })[0].result).toMatchObject({ vendor_name: 'island' });
  }, 60_000);

  it('serves casts, fanout casts, calls to its server name and many concurrent calls', async () => {
    const cast = randomUUID();
    const fanout = randomUUID();
    const direct = randomUUID();
    const [c, f, d, unreachable] = rpc(
      { method: 'create_volume', kwargs: { volume: volume(cast) }, cast: true },
      { method: 'create_volume', kwargs: { volume: volume(fanout) }, cast: true, fanout: true },
      { method: 'create_volume', kwargs: { volume: volume(direct) }, server: island.rpc.server },
      { method: 'get_volume_stats', server: 'no-such-api', timeout: 2 },
    );
    expect(c.result).toBeNull();
    expect(f.result).toBeNull();
    expect(d.result).toMatchObject({ provider_location: expect.stringContaining(direct) });
    expect(unreachable.error).toMatchObject({ class: 'MessagingTimeout' });
    for (const id of [cast, fanout]) await io.until(`/v1/volumes/${id}`, (v) => v.status === 'available', `cast-created ${id}`);

    const [many] = rpc({ method: 'get_volume', kwargs: { volume: volume(direct) }, concurrent: 40 });
    expect(many.results).toHaveLength(40);
    expect(many.results!.every((r) => (r.result as Json | undefined)?.id === direct)).toBe(true);
  }, 120_000);

  it('keeps a long call alive with heartbeats when the client monitors it', async () => {
    // get_volume_stats takes 5 s on this stack; the client gives up after 2 s without a heartbeat
    const slow = await startIsland({ env: { ISLAND_INJECT_DELAYS_MS: 'rpc.get-volume-stats=5000-5000' } });
    try {
      const started = Date.now();
      const [outcome] = rpcOn(slow, [{ method: 'get_volume_stats', timeout: 30, call_monitor_timeout: 2 }]);
      expect(outcome.result).toMatchObject({ vendor_name: 'island' });
      expect(Date.now() - started).toBeGreaterThan(5000);
    } finally {
      await slow.stop();
    }
  }, 120_000);
});
