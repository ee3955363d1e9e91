import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { useIsland } from '@island/stack';

const SCRIPT = join(__dirname, '..', '..', '..', 'contrib', 'cinder', 'tests', 'drive_island.py');

/**
 * contrib/cinder's IslandDriver inside Debian's Cinder (python3-cinder): it passes Cinder's own interface
 * checks and, called with Cinder's Volume and Snapshot objects, drives a real island — data written with
 * qemu-io into the raw connection (the storage daemon's file) comes back through snapshots, clones and reverts.
 */
describe('the Cinder volume driver', () => {
  const island = useIsland();

  it("passes Cinder's interface checks and works with Cinder's objects end to end", () => {
    const request = {
      url: island.rpc.url,
      exchange: island.rpc.exchange,
      topic: island.rpc.topic,
      host: island.host,
      project_id: 'alpha',
    };
    const run = spawnSync('/usr/bin/python3', [SCRIPT], { input: JSON.stringify(request), encoding: 'utf8', timeout: 300_000 });
    if (run.status !== 0) throw new Error(`drive_island.py exited ${run.status}:\n${run.stderr}`);
    const findings = JSON.parse(run.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
    expect(findings).toMatchObject({
      registered: true,
      volume_driver_core: true,
      snapshot_revert: true,
      driver_info: {
        version: '1.1.0',
        ci_wiki_name: 'island_CI',
        options: expect.arrayContaining(['island_rpc_topic', 'island_transport_url', 'island_connection']),
      },
      create_volume: { provider_location: expect.stringMatching(/^island:\/\/RegionOne\/volumes\//) },
      default_connection: { type: 'local', format: 'raw', block_device: true },
      stored_when_returned: 'available',
      progress_saved: true,
      // a small upload is seen stored as it ends, a long one asked about every island_snapshot_poll_interval
      poll_delays: [0.05, 0.05, 0.25, 1, 2],
      from_snapshot_restored: true,
      file_connection_format: 'qcow2',
      clone_restored: true,
      extended_size: 2 * 1024 ** 3,
      reverted: true,
      delete_with_snapshots: { class: 'InvalidVolume_Remote', reason: expect.stringMatching(/snapshot/) },
      missing_volume: { class: 'VolumeNotFound_Remote', kwargs: { volume_id: expect.any(String) } },
      deleted: true,
    });
    expect(findings.stats_keys).toEqual(
      expect.arrayContaining([
        'volume_backend_name',
        'vendor_name',
        'driver_version',
        'storage_protocol',
        'total_capacity_gb',
        'free_capacity_gb',
        'thin_provisioning_support',
      ]),
    );
    expect(findings.driver_version).toBe('1.1.0');
  }, 320_000);
});
