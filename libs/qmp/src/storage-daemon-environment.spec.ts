import { STORAGE_DAEMON_MALLOC_TUNABLES, storageDaemonEnvironment } from './storage-daemon-environment';

describe("a storage daemon's environment", () => {
  it("is this process's, with fixed malloc thresholds", () => {
    expect(storageDaemonEnvironment({ PATH: '/usr/bin' })).toEqual({ PATH: '/usr/bin', GLIBC_TUNABLES: STORAGE_DAEMON_MALLOC_TUNABLES });
  });

  it('keeps the tunables an operator set', () => {
    expect(storageDaemonEnvironment({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' }).GLIBC_TUNABLES).toBe('glibc.malloc.arena_max=2');
  });
});
