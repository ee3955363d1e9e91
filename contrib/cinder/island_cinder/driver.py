"""A Cinder volume driver for island.

island keeps volumes as qcow2 images on the compute hosts' local disks and their snapshots in Swift. This
driver holds no state: every call goes to island's API over oslo.messaging (the RabbitMQ Cinder already
uses, or another), with Cinder's own keyword arguments, and island's answer or Cinder exception comes back.
"""

import time

from oslo_config import cfg
from oslo_log import log as logging
import oslo_messaging as messaging

from cinder import context as cinder_context
from cinder import exception
from cinder.i18n import _
from cinder import interface
from cinder.volume import configuration
from cinder.volume import driver

LOG = logging.getLogger(__name__)

island_opts = [
    cfg.StrOpt('island_transport_url', secret=True,
               help='oslo.messaging URL of the RabbitMQ island listens on, '
                    'e.g. rabbit://user:pass@host:5672/. Default: Cinder\'s '
                    'own transport_url.'),
    cfg.StrOpt('island_rpc_exchange', default='openstack',
               help='Control exchange island\'s RPC endpoint uses '
                    '(ISLAND_RPC_EXCHANGE).'),
    cfg.StrOpt('island_rpc_topic', default='island-volume',
               help='Topic island\'s RPC endpoint listens on '
                    '(ISLAND_RPC_TOPIC).'),
    cfg.IntOpt('island_rpc_timeout', default=3600, min=1,
               help='Seconds a call may take in total (an attach with '
                    'island_export file restores the whole volume from '
                    'Swift first).'),
    cfg.IntOpt('island_call_monitor_timeout', default=30, min=2,
               help='Seconds without a heartbeat from island after which '
                    'a call is abandoned.'),
    cfg.StrOpt('island_connection', default='block',
               choices=['block', 'raw', 'nbd', 'file'],
               help='How a host serves an attached volume, unless the '
                    'connector says (island_export): block - the host\'s '
                    'qemu-storage-daemon serves the volume\'s raw bytes '
                    'as a loop block device (driver_volume_type local, '
                    'which Nova\'s libvirt driver attaches as a block '
                    'disk; live snapshots while the guest writes); raw - '
                    'the same bytes as a regular file (os-brick and '
                    'cinder-backup read it; Nova cannot attach it); nbd - '
                    'an NBD export of that daemon (no Nova volume driver '
                    'takes it); file - the qcow2 image itself (format '
                    'qcow2; snapshots wait until the guest lets it go).'),
    cfg.BoolOpt('island_snapshot_wait_durable', default=True,
                help='create_snapshot returns once the snapshot is stored in '
                     'Swift, reporting its progress meanwhile. False returns '
                     'once the point in time exists on the host (faster; a '
                     'snapshot then shows available in Cinder before it '
                     'would survive the loss of that host).'),
    cfg.IntOpt('island_snapshot_poll_interval', default=2, min=1,
               help='Longest wait in seconds between progress checks of a '
                    'snapshot upload. The first checks come sooner (after '
                    '0.05 s, then a quarter of the time waited), so that a '
                    'small incremental snapshot is seen stored as it ends.'),
]

FIRST_POLL_SECONDS = 0.05


def _poll_delay(waited, interval):
    """Seconds before the next check, `waited` seconds into a wait.

    0.05 at first, then a quarter of the time waited, at most `interval`: a
    wait overshoots the upload's end by at most a quarter of its length, and
    a long upload is asked about every `interval` seconds.
    """
    return min(interval, max(FIRST_POLL_SECONDS, waited / 4.0))


CONF = cfg.CONF
CONF.register_opts(island_opts, group=configuration.SHARED_CONF_GROUP)

RPC_API_VERSION = '1.0'


def _volume(volume, size=None):
    return {
        'id': volume.id,
        'size': size if size is not None else volume.size,
        'project_id': volume.project_id,
        'display_name': volume.display_name,
    }


def _snapshot(snapshot):
    return {
        'id': snapshot.id,
        'volume_id': snapshot.volume_id,
        'volume_size': snapshot.volume_size,
        'project_id': snapshot.project_id,
        'display_name': snapshot.display_name,
    }


@interface.volumedriver
class IslandDriver(driver.VolumeDriver):
    """Volumes as qcow2 images on compute hosts, snapshots in Swift.

    Version history:
        1.0.0 - every core driver call, snapshot revert, extend
        1.1.0 - raw connections through qemu-storage-daemon by default,
                snapshots available only once stored, progress reported
    """

    VERSION = '1.1.0'
    CI_WIKI_NAME = 'island_CI'

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.configuration.append_config_values(island_opts)
        self._client = None
        self._transport = None

    @staticmethod
    def get_driver_options():
        return island_opts

    def do_setup(self, context):
        url = self.configuration.island_transport_url or None
        # the target names island's exchange: nothing process-wide changes
        # island answers with Cinder's own exceptions: raise them as such
        self._transport = messaging.get_rpc_transport(
            CONF, url=url, allowed_remote_exmods=['cinder.exception'])
        target = messaging.Target(
            topic=self.configuration.island_rpc_topic,
            exchange=self.configuration.island_rpc_exchange,
            version=RPC_API_VERSION)
        self._client = messaging.get_rpc_client(self._transport, target)

    def check_for_setup_error(self):
        try:
            self._call(None, 'get_volume_stats', refresh=True)
        except messaging.MessagingException as error:
            raise exception.VolumeBackendAPIException(
                data=_('island is not reachable on topic %(topic)s: '
                       '%(error)s') % {
                    'topic': self.configuration.island_rpc_topic,
                    'error': error})

    def _call(self, context, method, **kwargs):
        if self._client is None:
            raise exception.VolumeBackendAPIException(
                data=_('the island driver is not set up'))
        ctxt = (context or cinder_context.get_admin_context()).to_dict()
        prepared = self._client.prepare(
            timeout=self.configuration.island_rpc_timeout,
            call_monitor_timeout=self.configuration.island_call_monitor_timeout)
        LOG.debug('island %(method)s', {'method': method})
        return prepared.call(ctxt, method, **kwargs)

    def _update_volume_stats(self):
        stats = self._call(None, 'get_volume_stats', refresh=True)
        stats['volume_backend_name'] = (
            self.configuration.safe_get('volume_backend_name')
            or stats.get('volume_backend_name') or 'island')
        stats['driver_version'] = self.VERSION
        self._stats = stats

    def create_volume(self, volume):
        return self._call(None, 'create_volume', volume=_volume(volume))

    def delete_volume(self, volume):
        self._call(None, 'delete_volume', volume=_volume(volume))

    def create_snapshot(self, snapshot):
        update = self._call(None, 'create_snapshot',
                            snapshot=_snapshot(snapshot))
        if self.configuration.island_snapshot_wait_durable:
            self._wait_stored(snapshot)
        return update

    def _wait_stored(self, snapshot):
        """Polls island until the snapshot is in Swift, saving its progress."""
        interval = self.configuration.island_snapshot_poll_interval
        started = time.monotonic()
        deadline = started + self.configuration.island_rpc_timeout
        shown = None
        while True:
            view = self._call(None, 'get_snapshot',
                              snapshot=_snapshot(snapshot))
            status = view.get('status')
            if status == 'available':
                return
            if status in ('error', 'deleted', 'deleting'):
                raise exception.VolumeBackendAPIException(
                    data=_('snapshot %(id)s was not stored: %(reason)s') % {
                        'id': snapshot.id,
                        'reason': view.get('statusReason') or status})
            progress = '%d%%' % int(view.get('progress') or 0)
            if progress != shown:
                shown = progress
                snapshot.progress = progress
                snapshot.save()
            if time.monotonic() > deadline:
                raise exception.VolumeBackendAPIException(
                    data=_('snapshot %s was not stored in time') % snapshot.id)
            time.sleep(_poll_delay(time.monotonic() - started, interval))

    def delete_snapshot(self, snapshot):
        self._call(None, 'delete_snapshot', snapshot=_snapshot(snapshot))

    def create_volume_from_snapshot(self, volume, snapshot):
        return self._call(None, 'create_volume_from_snapshot',
                          volume=_volume(volume),
                          snapshot=_snapshot(snapshot))

    def create_cloned_volume(self, volume, src_vref):
        return self._call(None, 'create_cloned_volume',
                          volume=_volume(volume), src_vref=_volume(src_vref))

    def extend_volume(self, volume, new_size):
        self._call(None, 'extend_volume', volume=_volume(volume),
                   new_size=new_size)

    def revert_to_snapshot(self, context, volume, snapshot):
        self._call(context, 'revert_to_snapshot', volume=_volume(volume),
                   snapshot=_snapshot(snapshot))

    def initialize_connection(self, volume, connector, initiator_data=None):
        connector = dict(connector or {})
        connector.setdefault('island_export',
                             self.configuration.island_connection)
        return self._call(None, 'initialize_connection',
                          volume=_volume(volume), connector=connector)

    def terminate_connection(self, volume, connector, **kwargs):
        self._call(None, 'terminate_connection', volume=_volume(volume),
                   connector=connector)

    # island places the image on the host at the first attach: nothing to export
    def ensure_export(self, context, volume):
        pass

    def create_export(self, context, volume, connector):
        pass

    def remove_export(self, context, volume):
        pass
