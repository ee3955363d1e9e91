import { Command } from 'commander';
import { ApiClient } from '../api/api-client';
import { listPages, noteNextPage, PageOptions } from '../api/list-pages';
import { CliError } from '../cli-error';
import { SnapshotView } from '../api/views';
import { waitFor, WaitState } from '../api/wait';
import { print, table } from '../output';
import { formatBytes } from '../sizes';
import { registerSnapshotData } from './snapshot-data';

const snapshotState = (s: SnapshotView): WaitState => {
  if (s.status === 'available') return { state: 'done' };
  if (s.status === 'error') return { state: 'failed', reason: s.statusReason ?? 'snapshot failed' };
  const blocks = s.blocksTotal > 0 ? ` ${s.blocksDone}/${s.blocksTotal} blocks` : '';
  return { state: 'running', percent: s.progress, label: `${s.status}${blocks}` };
};

const describe = (s: SnapshotView) =>
  [
    s.copyOf
      ? `snapshot ${s.id}${s.name ? ` (${s.name})` : ''} in ${s.region}, a copy of ${s.copyOf}: ${s.status} ${s.progress}%${s.statusReason ? ` — ${s.statusReason}` : ''}`
      : `snapshot ${s.id}${s.name ? ` (${s.name})` : ''} of volume ${s.volumeId} in ${s.region}: ${s.status} ${s.progress}%${s.statusReason ? ` — ${s.statusReason}` : ''}`,
    s.copyOf
      ? `  copied ${formatBytes(s.bytesUploaded)} in ${s.blocksUploaded} blocks, ${s.blocksReused} blocks were there already`
      : `  changed ${formatBytes(s.bytesChanged)}, uploaded ${formatBytes(s.bytesUploaded)} in ${s.blocksUploaded} blocks, ${s.blocksReused} blocks reused`,
    ...(s.regions ? [`  held in: ${s.regions.map((r) => `${r.region} (${r.snapshotId}, ${r.status})`).join(', ')}`] : []),
    ...(s.damaged ? [`  DAMAGED: ${s.damagedReason ?? 'a block it needs is lost'}`] : []),
  ].join('\n');

/** What `snapshot copy` reports: the copy (a snapshot of the target region) and what moved. */
const copyReport = (s: SnapshotView) => ({
  id: s.id,
  region: s.region,
  status: s.status,
  copyOf: s.copyOf,
  bytesCopied: s.bytesUploaded,
  blocksCopied: s.blocksUploaded,
  blocksReused: s.blocksReused,
});

export function snapshotCommand(api = new ApiClient()): Command {
  const snapshot = new Command('snapshot').description('point-in-time snapshots stored in Swift');

  snapshot
    .command('create <VOL_ID...>')
    .description('snapshot a volume; with --group, several volumes of one host at one instant (a consistency group)')
    .option('--group', 'one instant for all the volumes given')
    .option('--name <NAME>', 'a name')
    .option('--wait', 'wait until stored in Swift')
    .option('--json', 'print JSON')
    .action(async (volumeIds: string[], o: { group?: boolean; name?: string; wait?: boolean; json?: boolean }) => {
      const name = o.name !== undefined ? { name: o.name } : {};
      const wait = (s: SnapshotView) => (o.wait ? waitFor(() => api.get<SnapshotView>(`/v1/snapshots/${s.id}`), snapshotState, `snapshot ${s.id}`) : s);
      if (o.group) {
        const g = await api.post<{ groupId: string; snapshots: SnapshotView[] }>('/v1/snapshots/groups', { volumeIds, ...name });
        const snapshots: SnapshotView[] = [];
        for (const s of g.snapshots) snapshots.push(await wait(s));
        print(!!o.json, { groupId: g.groupId, snapshots }, () => snapshots.map(describe).join('\n'));
        return;
      }
      if (volumeIds.length > 1) throw new CliError('several volumes are snapshotted together with --group');
      const s = await wait(await api.post<SnapshotView>('/v1/snapshots', { volumeId: volumeIds[0], ...name }));
      print(!!o.json, s, () => describe(s));
    });

  snapshot
    .command('show <SNAP_ID>')
    .option('--json', 'print JSON')
    .action(async (id: string, o: { json?: boolean }) => {
      const s = await api.get<SnapshotView>(`/v1/snapshots/${id}`);
      print(!!o.json, s, () => describe(s));
    });

  snapshot
    .command('list')
    .option('--volume <VOL_ID>', "only this volume's")
    .option('--deleted', 'the recycle bin: deleted snapshots still restorable (`snapshot undelete`), and when each is purged')
    .option('--limit <N>', 'at most N snapshots (one page; at most 1000)')
    .option('--marker <SNAP_ID>', 'the page after this snapshot (the nextMarker a page ended with)')
    .option('--json', 'print JSON')
    .action(async (o: PageOptions & { volume?: string; deleted?: boolean; json?: boolean }) => {
      const query = { ...(o.volume && { volumeId: o.volume }), ...(o.deleted && { deleted: 'true' }) };
      const listed = await listPages<SnapshotView>(api, '/v1/snapshots', 'snapshots', query, o);
      print(!!o.json, { snapshots: listed.items, nextMarker: listed.nextMarker }, () =>
        o.deleted
          ? table(
              listed.items.map((s) => ({ ...s, deleted: s.deletedAt ?? '', purged: s.purgeAfter ?? '' })),
              ['id', 'volumeId', 'region', 'name', 'deleted', 'purged'],
            )
          : table(
              listed.items.map((s) => ({ ...s, uploaded: formatBytes(s.bytesUploaded), created: s.createdAt, damaged: s.damaged ? 'DAMAGED' : '' })),
              ['id', 'volumeId', 'region', 'status', 'progress', 'uploaded', 'created', 'damaged'],
            ),
      );
      if (!o.json) noteNextPage(listed);
    });

  snapshot
    .command('copy <SNAP_ID>')
    .description('copy a snapshot into another region: only the blocks that region lacks move; asking again returns the copy')
    .requiredOption('--to-region <REGION>', 'the target region')
    .option('--wait', 'wait until the copy is available there')
    .option('--json', 'print JSON')
    .action(async (id: string, o: { toRegion: string; wait?: boolean; json?: boolean }) => {
      let s = await api.post<SnapshotView>(`/v1/snapshots/${id}/copy`, { region: o.toRegion });
      if (o.wait) s = await waitFor(() => api.get<SnapshotView>(`/v1/snapshots/${s.id}`), snapshotState, `copy ${s.id} into ${o.toRegion}`);
      print(!!o.json, copyReport(s), () => describe(s));
    });

  snapshot
    .command('delete <SNAP_ID>')
    .description(
      'delete a snapshot (any, in any order); with a retention it stays restorable in the recycle bin until purged; GC frees its blocks no other snapshot uses after the grace window',
    )
    .option('--purge', 'admin: drop it now, skipping the recycle bin (or taking it out of the bin for good)')
    .option('--wait', 'wait until deleted (references are dropped at once; `island gc run` frees the space)')
    .option('--json', 'print JSON')
    .action(async (id: string, o: { purge?: boolean; wait?: boolean; json?: boolean }) => {
      const s = await api.delete<SnapshotView>(`/v1/snapshots/${id}${o.purge ? '?purge=true' : ''}`);
      print(!!o.json, s, () => `snapshot ${id}: ${s.status}${s.purgeAfter ? ` (restorable with \`island snapshot undelete\` until ${s.purgeAfter})` : ''}`);
    });

  snapshot
    .command('undelete <SNAP_ID>')
    .description('take a deleted snapshot out of the recycle bin: available again, it restores as before')
    .option('--json', 'print JSON')
    .action(async (id: string, o: { json?: boolean }) => {
      const s = await api.post<SnapshotView>(`/v1/snapshots/${id}/undelete`);
      print(!!o.json, s, () => describe(s));
    });

  registerSnapshotData(snapshot, api, (s) => waitFor(() => api.get<SnapshotView>(`/v1/snapshots/${s.id}`), snapshotState, `snapshot ${s.id}`));
  return snapshot;
}
