import { UnitOfWork } from '../outbox/unit-of-work';
import { IslandConfig } from '@island/config';
import { RemoteFailure, RpcEndpoint } from '@island/oslo-rpc';
import { Caller } from '../auth/caller';
import { SnapshotService } from '../requests/snapshot.service';
import { VolumeService } from '../requests/volume.service';
import { CinderVolumeEndpoint, settleDelay } from './cinder-volume.endpoint';

const VOLUME = { id: '6f1c1c5e-8d0a-4b7e-9a51-0d6b1c2f3a4b', size: 1, project_id: 'alpha', display_name: 'v' };
const SNAPSHOT = { id: '0b5a3c1e-2d4f-4a6b-8c9d-1e2f3a4b5c6d', volume_id: VOLUME.id, project_id: 'beta' };

/** The endpoint's table on stub services: what each call is given before its logic runs. */
describe('the Cinder endpoint’s method table', () => {
  let endpoint: RpcEndpoint;
  const seen: { caller: Caller; id: string }[] = [];

  beforeEach(() => {
    seen.length = 0;
    const show = async (caller: Caller, id: string) => {
      seen.push({ caller, id });
      return { id };
    };
    const volumes = { show, detach: async () => ({ status: 'available' }) } as unknown as VolumeService;
    const snapshots = { show } as unknown as SnapshotService;
    endpoint = new CinderVolumeEndpoint({} as IslandConfig, volumes, snapshots, {} as UnitOfWork).endpoint();
  });

  const call = (method: string, kwargs: Record<string, unknown>, context: Record<string, unknown> = {}) => endpoint.methods[method](context, kwargs);
  const failure = async (promise: Promise<unknown>) => {
    const error = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(RemoteFailure);
    const { className, message } = error as RemoteFailure;
    return { className, message };
  };

  it('serves the thirteen methods of Cinder’s driver', () => {
    expect(Object.keys(endpoint.methods).sort()).toEqual(
      [
        'create_cloned_volume',
        'create_snapshot',
        'create_volume',
        'create_volume_from_snapshot',
        'delete_snapshot',
        'delete_volume',
        'extend_volume',
        'get_snapshot',
        'get_volume',
        'get_volume_stats',
        'initialize_connection',
        'revert_to_snapshot',
        'terminate_connection',
      ].sort(),
    );
  });

  it('checks keyword arguments as Python checks a signature', async () => {
    expect(await failure(call('delete_volume', {}))).toEqual({ className: 'TypeError', message: "delete_volume() missing 1 required argument(s): 'volume'" });
    expect(await failure(call('create_cloned_volume', {}))).toEqual({
      className: 'TypeError',
      message: "create_cloned_volume() missing 2 required argument(s): 'volume', 'src_vref'",
    });
    expect(await failure(call('create_volume', { volume: VOLUME, colour: 'blue' }))).toEqual({
      className: 'TypeError',
      message: "create_volume() got an unexpected keyword argument 'colour'",
    });
    expect(await failure(call('get_volume_stats', { refresh: true, colour: 'blue' }))).toEqual({
      className: 'TypeError',
      message: "get_volume_stats() got an unexpected keyword argument 'colour'",
    });
    // **kwargs: a connector call takes what os-brick adds
    await expect(call('terminate_connection', { volume: VOLUME, connector: { host: 'h1' }, force: true })).resolves.toBeNull();
  });

  it('reads each argument in order, naming the one that is wrong', async () => {
    expect(await failure(call('create_volume', { volume: 'vol-1' }))).toEqual({
      className: 'InvalidInput',
      message: 'Invalid input received: volume must be an object, not "vol-1"',
    });
    expect(await failure(call('extend_volume', { volume: VOLUME, new_size: 'big' }))).toEqual({
      className: 'InvalidInput',
      message: 'Invalid input received: new_size must be a whole number of GiB, not "big"',
    });
    expect(await failure(call('extend_volume', { volume: { ...VOLUME, size: 0 }, new_size: 'big' }))).toMatchObject({
      message: expect.stringMatching(/^Invalid input received: volume: size must not be less than 1/),
    });
    expect(await failure(call('initialize_connection', { volume: VOLUME, connector: { host: 'not a host' } }))).toEqual({
      className: 'InvalidInput',
      message: 'Invalid input received: connector: host must be a host name',
    });
  });

  it('acts as the project owning the resource, else the request context’s', async () => {
    await call('get_volume', { volume: VOLUME });
    await call('get_snapshot', { snapshot: SNAPSHOT });
    await call('get_volume', { volume: { ...VOLUME, project_id: undefined } }, { project_id: 'gamma' });
    expect(seen).toEqual([
      { caller: { projectId: 'alpha', admin: false, scope: 'alpha', readOnly: false }, id: VOLUME.id },
      { caller: { projectId: 'beta', admin: false, scope: 'beta', readOnly: false }, id: SNAPSHOT.id },
      { caller: { projectId: 'gamma', admin: false, scope: 'gamma', readOnly: false }, id: VOLUME.id },
    ]);
    expect(await failure(call('get_volume', { volume: { ...VOLUME, project_id: undefined } }))).toEqual({
      className: 'InvalidInput',
      message: 'Invalid input received: no project: neither the resource nor the request context names one',
    });
    expect(await failure(call('get_volume', { volume: { ...VOLUME, project_id: 'a b' } }))).toMatchObject({
      message: expect.stringContaining('project_id must be 1 to 64 letters'),
    });
  });
});

describe(settleDelay.name, () => {
  it('asks again after 20 ms at first: a snapshot whose point in time takes ~50 ms returns soon after', () => {
    expect(settleDelay(0)).toBe(20);
    expect(settleDelay(60)).toBe(20);
  });

  it('overshoots the end of a wait by at most a quarter of the time waited', () => {
    for (const waited of [100, 400, 2000, 4000]) expect(settleDelay(waited)).toBeLessThanOrEqual(Math.max(20, waited / 4));
  });

  it('reads the catalog about once a second while a long operation runs', () => {
    expect(settleDelay(4000)).toBe(1000);
    expect(settleDelay(3_600_000)).toBe(1000);
  });
});
