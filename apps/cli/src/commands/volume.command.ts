import { Command } from 'commander';
import { ApiClient } from '../api/api-client';
import { CliError } from '../cli-error';
import { listPages, noteNextPage, PageOptions } from '../api/list-pages';
import { VolumeView } from '../api/views';
import { waitFor, WaitState } from '../api/wait';
import { print, table } from '../output';
import { formatBytes, parseSize } from '../sizes';

function volumeState(expect: 'in-use' | 'available' | 'deleted'): (v: VolumeView) => WaitState {
  return (v) => {
    if (v.status === expect) return { state: 'done' };
    if (v.status === 'error') return { state: 'failed', reason: v.statusReason ?? 'volume is in error' };
    if (['creating', 'attaching', 'reverting', 'deleting', 'detaching', 'extending'].includes(v.status)) {
      return { state: 'running', percent: 0, label: v.status };
    }
    return { state: 'failed', reason: v.statusReason ?? `volume is ${v.status}` };
  };
}

/** Waits for a volume; a deleted volume answers 404, which is what deletion waits for. */
async function waitVolume(api: ApiClient, id: string, expect: 'in-use' | 'available' | 'deleted', what: string): Promise<VolumeView> {
  return waitFor(
    async () => {
      try {
        return await api.get<VolumeView>(`/v1/volumes/${id}`);
      } catch (error) {
        if (expect === 'deleted' && /HTTP 404/.test((error as Error).message)) return { id, status: 'deleted' } as VolumeView;
        throw error;
      }
    },
    volumeState(expect),
    what,
  );
}

const describe = (v: VolumeView) =>
  [
    `volume ${v.id}${v.name ? ` (${v.name})` : ''}: ${v.status}${v.statusReason ? ` — ${v.statusReason}` : ''}`,
    `  size ${formatBytes(v.sizeBytes)}, region ${v.region}, host ${v.host ?? '(not placed yet)'}`,
    ...(v.connection ? [`  connection ${v.connection.format} ${v.connection.path}`] : []),
    ...(v.connection?.nbd ? [`  served by the host's storage daemon: ${v.connection.nbd}`] : []),
    ...(v.connection?.raw ? [`  raw view (the volume's bytes as a file): ${v.connection.raw}`] : []),
    ...(v.connection?.device ? [`  block device: ${v.connection.device}`] : []),
    ...(v.fill ? [describeFill(v.fill)] : []),
  ].join('\n');

/** `restoring 63 %`: made from a snapshot, served before its blocks are all local. */
function describeFill(fill: NonNullable<VolumeView['fill']>): string {
  const amount = `${formatBytes(fill.doneBytes)} of ${formatBytes(fill.totalBytes)}`;
  if (fill.status === 'failed') return `  restore failed at ${fill.percent} % (${amount}): ${fill.reason ?? 'no reason given'}`;
  return `  restoring ${fill.percent} % (${amount} local; the rest is read from the snapshot on first use)`;
}

export function volumeCommand(api = new ApiClient()): Command {
  const volume = new Command('volume').description('create, attach, snapshot-restore and delete volumes');

  volume
    .command('create')
    .description('create a volume (its image is created on a host at first attach)')
    .option('--size <SIZE>', "size in bytes; K, M, G, T suffixes (with --snapshot, default: the snapshot's size)")
    .option('--name <NAME>', 'a name')
    .option('--snapshot <SNAP_ID>', 'with the content of this snapshot')
    .option('--region <REGION>', "region (default: the snapshot's, or the API's); from another region's snapshot, it is copied here first")
    .option('--wait', 'wait until the volume can be attached (a snapshot from another region is copied first)')
    .option('--json', 'print JSON')
    .action(async (o: { size?: string; name?: string; snapshot?: string; region?: string; wait?: boolean; json?: boolean }) => {
      if (o.size === undefined && o.snapshot === undefined) throw new CliError('--size is required unless --snapshot is given');
      let v = await api.post<VolumeView>('/v1/volumes', {
        ...(o.size !== undefined && { sizeBytes: parseSize(o.size) }),
        ...(o.name !== undefined && { name: o.name }),
        ...(o.snapshot !== undefined && { snapshotId: o.snapshot }),
        ...(o.region !== undefined && { region: o.region }),
      });
      if (o.wait) v = await waitVolume(api, v.id, 'available', `volume ${v.id}`);
      print(!!o.json, v, () => describe(v));
    });

  volume
    .command('attach <VOL_ID>')
    .description('attach on a host; the first attach creates (or restores) the image on that host')
    .requiredOption('--host <HOST>', 'host name')
    .option(
      '--export <KIND>',
      "serve the image through the host's qemu-storage-daemon: nbd (an NBD export on a unix socket), raw (a file showing the volume's raw bytes) or block (that file behind a loop block device); with any of them a volume made from a snapshot is served at once and fills in the background",
    )
    .option('--wait', 'wait until attached')
    .option('--json', 'print JSON')
    .action(async (id: string, o: { host: string; export?: string; wait?: boolean; json?: boolean }) => {
      let v = await api.post<VolumeView>(`/v1/volumes/${id}/attach`, { host: o.host, ...(o.export !== undefined && { export: o.export }) });
      if (o.wait) v = await waitVolume(api, id, 'in-use', `attach ${id}`);
      print(!!o.json, v, () => describe(v));
    });

  volume
    .command('evacuate <VOL_ID>')
    .description('recreate on another host, from its last snapshot, a volume whose host is lost (silent for 5 minutes; admin)')
    .requiredOption('--host <HOST>', 'the host to recreate it on')
    .option('--wait', 'wait until it is attached there')
    .option('--json', 'print JSON')
    .action(async (id: string, o: { host: string; wait?: boolean; json?: boolean }) => {
      const started = await api.post<VolumeView>(`/v1/volumes/${id}/evacuate`, { host: o.host });
      if (!o.json) process.stderr.write(`island: ${started.statusReason ?? `volume ${id} evacuated`}\n`);
      const v = o.wait ? await waitVolume(api, id, 'in-use', `evacuate ${id}`) : started;
      print(!!o.json, v, () => describe(v));
    });

  volume
    .command('detach <VOL_ID>')
    .option('--wait', 'wait until detached')
    .option('--json', 'print JSON')
    .action(async (id: string, o: { wait?: boolean; json?: boolean }) => {
      let v = await api.post<VolumeView>(`/v1/volumes/${id}/detach`);
      if (o.wait) v = await waitVolume(api, id, 'available', `detach ${id}`);
      print(!!o.json, v, () => describe(v));
    });

  volume
    .command('show <VOL_ID>')
    .option('--json', 'print JSON')
    .action(async (id: string, o: { json?: boolean }) => {
      const v = await api.get<VolumeView>(`/v1/volumes/${id}`);
      print(!!o.json, v, () => describe(v));
    });

  volume
    .command('list')
    .description('volumes, oldest first: every one, or a page with --limit/--marker')
    .option('--limit <N>', 'at most N volumes (one page; at most 1000)')
    .option('--marker <VOL_ID>', 'the page after this volume (the nextMarker a page ended with)')
    .option('--json', 'print JSON')
    .action(async (o: PageOptions & { json?: boolean }) => {
      const listed = await listPages<VolumeView>(api, '/v1/volumes', 'volumes', {}, o);
      print(!!o.json, { volumes: listed.items, nextMarker: listed.nextMarker }, () =>
        table(
          listed.items.map((v) => ({ ...v, size: formatBytes(v.sizeBytes), host: v.host ?? '-' })),
          ['id', 'name', 'status', 'size', 'region', 'host'],
        ),
      );
      if (!o.json) noteNextPage(listed);
    });

  volume
    .command('extend <VOL_ID>')
    .description('grow the volume (never shrinks)')
    .requiredOption('--size <SIZE>', 'the new size in bytes; K, M, G, T suffixes')
    .option('--wait', 'wait until the image has grown')
    .option('--json', 'print JSON')
    .action(async (id: string, o: { size: string; wait?: boolean; json?: boolean }) => {
      let v = await api.post<VolumeView>(`/v1/volumes/${id}/extend`, { sizeBytes: parseSize(o.size) });
      if (o.wait) {
        v = await waitFor(
          () => api.get<VolumeView>(`/v1/volumes/${id}`),
          (x): WaitState =>
            x.status === 'extending'
              ? { state: 'running', percent: 0, label: 'extending' }
              : x.statusReason && x.sizeBytes !== parseSize(o.size)
                ? { state: 'failed', reason: x.statusReason }
                : { state: 'done' },
          `extend ${id}`,
        );
      }
      print(!!o.json, v, () => describe(v));
    });

  volume
    .command('revert <VOL_ID>')
    .description('revert the volume to any of its snapshots')
    .requiredOption('--snapshot <SNAP_ID>', 'the snapshot')
    .option('--wait', 'wait until reverted')
    .option('--json', 'print JSON')
    .action(async (id: string, o: { snapshot: string; wait?: boolean; json?: boolean }) => {
      let v = await api.post<VolumeView>(`/v1/volumes/${id}/revert`, { snapshotId: o.snapshot });
      if (o.wait) v = await waitVolume(api, id, 'available', `revert ${id}`);
      print(!!o.json, v, () => describe(v));
    });

  volume
    .command('delete <VOL_ID>')
    .option('--cascade', 'delete its snapshots with it')
    .option('--wait', 'wait until deleted')
    .option('--json', 'print JSON')
    .action(async (id: string, o: { cascade?: boolean; wait?: boolean; json?: boolean }) => {
      let v = await api.delete<VolumeView>(`/v1/volumes/${id}${o.cascade ? '?cascade=true' : ''}`);
      if (o.wait) v = await waitVolume(api, id, 'deleted', `delete ${id}`);
      print(!!o.json, v, () => `volume ${id}: ${v.status}`);
    });

  return volume;
}
