"""Checks IslandDriver against Cinder's own code and drives a real island with it.

Run with Debian's python3 (python3-cinder installed). Reads {"url", "exchange", "topic", "host",
"project_id"} as JSON on stdin; prints one JSON object of findings; exits 1 on the first failure.
"""
import json
import os
import stat
import subprocess
import sys
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..'))

from cinder import context  # noqa: E402
from cinder import exception  # noqa: E402
from cinder import interface  # noqa: E402
from cinder.interface import util as interface_util  # noqa: E402
from cinder.interface import volume_driver  # noqa: E402
from cinder.interface import volume_snapshot_revert  # noqa: E402
from cinder import objects  # noqa: E402
from cinder.volume import configuration  # noqa: E402

from island_cinder import driver as island_driver  # noqa: E402

GIB = 1024 ** 3


def qemu_io(path, command, fmt='raw'):
    subprocess.run(['qemu-io', '-f', fmt, '-c', command, path], check=True, capture_output=True, text=True)


def qemu_io_matches(path, command, fmt='raw'):
    run = subprocess.run(['qemu-io', '-f', fmt, '-c', command, path], capture_output=True, text=True)
    return run.returncode == 0 and 'Pattern verification failed' not in run.stdout


def main():
    request = json.load(sys.stdin)
    findings = {}

    # Cinder's own interface checks: what its compliance tests assert of every in-tree driver
    cls = island_driver.IslandDriver
    findings['registered'] = cls in interface._volume_register
    findings['volume_driver_core'] = issubclass(cls, volume_driver.VolumeDriverCore)
    findings['snapshot_revert'] = issubclass(cls, volume_snapshot_revert.VolumeSnapshotRevertDriver)
    info = interface_util.DriverInfo(cls)
    findings['driver_info'] = {'version': info.version, 'ci_wiki_name': info.ci_wiki_name,
                               'options': sorted(o.name for o in info.driver_options)}

    objects.register_all()
    conf = configuration.Configuration(island_driver.island_opts, config_group='island')
    island_driver.CONF.set_override('island_transport_url', request['url'], group='island')
    island_driver.CONF.set_override('island_rpc_exchange', request['exchange'], group='island')
    island_driver.CONF.set_override('island_rpc_topic', request['topic'], group='island')
    island_driver.CONF.set_override('island_call_monitor_timeout', 10, group='island')
    drv = cls(configuration=conf)
    ctxt = context.get_admin_context()
    drv.do_setup(ctxt)
    drv.check_for_setup_error()
    stats = drv.get_volume_stats(refresh=True)
    findings['stats_keys'] = sorted(stats)
    findings['driver_version'] = stats['driver_version']

    project = request['project_id']
    connector = {'host': request['host'], 'initiator': 'iqn.2004-10.com.example:e2e', 'multipath': False}

    def volume(size=1):
        return objects.Volume(ctxt, id=str(uuid.uuid4()), size=size, project_id=project, display_name='from-cinder',
                              status='creating')

    progress = {}

    def snapshot(vol):
        snap = objects.Snapshot(ctxt, id=str(uuid.uuid4()), volume_id=vol.id, volume_size=vol.size,
                                project_id=project, display_name='snap-from-cinder', status='creating')
        # no Cinder database here: record what the driver saves instead
        snap.save = lambda: progress.setdefault(snap.id, []).append(snap.progress)
        return snap

    def island_view(method, **kwargs):
        return drv._call(None, method, **kwargs)

    v1 = volume()
    findings['create_volume'] = drv.create_volume(v1)
    connection = drv.initialize_connection(v1, connector)
    path = connection['data']['device_path']
    findings['default_connection'] = {'type': connection['driver_volume_type'], 'format': connection['data']['format'],
                                      'block_device': stat.S_ISBLK(os.stat(path).st_mode)}
    qemu_io(path, 'write -P 0x5a 0 4M')
    s1 = snapshot(v1)
    drv.create_snapshot(s1)
    # the driver returned: the snapshot is in Swift, not only on the host
    findings['stored_when_returned'] = island_view('get_snapshot', snapshot=island_driver._snapshot(s1))['status']
    qemu_io(path, 'write -P 0x33 1M 1M')
    s2 = snapshot(v1)
    drv.create_snapshot(s2)
    findings['progress_saved'] = all(p.endswith('%') for p in progress.get(s2.id, []) + progress.get(s1.id, []))
    # how long the wait for a snapshot's upload sleeps between checks, that many seconds into it (interval 2 s)
    findings['poll_delays'] = [island_driver._poll_delay(waited, 2) for waited in (0, 0.1, 1, 4, 60)]

    v2 = volume()
    drv.create_volume_from_snapshot(v2, s1)
    p2 = drv.initialize_connection(v2, connector)['data']['device_path']
    findings['from_snapshot_restored'] = qemu_io_matches(p2, 'read -P 0x5a 0 4M')

    v3 = volume()
    drv.create_cloned_volume(v3, v1)
    file_connector = dict(connector, island_export='file')
    file_connection = drv.initialize_connection(v3, file_connector)['data']
    findings['file_connection_format'] = file_connection['format']
    p3 = file_connection['device_path']
    findings['clone_restored'] = (qemu_io_matches(p3, 'read -P 0x5a 0 1M', 'qcow2')
                                  and qemu_io_matches(p3, 'read -P 0x33 1M 1M', 'qcow2'))

    drv.terminate_connection(v1, connector)
    drv.extend_volume(v1, 2)
    v1.size = 2
    path = drv.initialize_connection(v1, connector)['data']['device_path']
    with open(path, 'rb') as device:
        findings['extended_size'] = device.seek(0, os.SEEK_END)
    drv.terminate_connection(v1, connector)
    drv.revert_to_snapshot(ctxt, v1, s1)
    path = drv.initialize_connection(v1, connector)['data']['device_path']
    findings['reverted'] = qemu_io_matches(path, 'read -P 0x5a 0 4M')
    drv.terminate_connection(v1, connector)

    try:
        drv.delete_volume(v1)  # it still has snapshots
        findings['delete_with_snapshots'] = 'accepted'
    except exception.InvalidVolume as error:
        findings['delete_with_snapshots'] = {'class': type(error).__name__, 'reason': error.kwargs.get('reason')}
    try:
        drv.create_snapshot(snapshot(volume()))  # of a volume island does not have
        findings['missing_volume'] = 'accepted'
    except exception.VolumeNotFound as error:
        findings['missing_volume'] = {'class': type(error).__name__, 'kwargs': error.kwargs}

    for snap in (s1, s2):
        drv.delete_snapshot(snap)
    drv.terminate_connection(v2, connector)
    drv.terminate_connection(v3, file_connector)
    for vol in (v1, v2, v3):
        drv.delete_volume(vol)
    drv.delete_volume(v1)  # again: already gone
    gone = []
    for vol in (v1, v2, v3):
        try:
            island_view('get_volume', volume=island_driver._volume(vol))
        except exception.VolumeNotFound:
            gone.append(vol.id)
    findings['deleted'] = len(gone) == 3
    print(json.dumps(findings, default=str), flush=True)


if __name__ == '__main__':
    main()
    sys.stdout.flush()
    os._exit(0)  # kombu's heartbeat thread would keep the interpreter alive for seconds
