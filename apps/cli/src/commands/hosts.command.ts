import { Command } from 'commander';
import { ApiClient } from '../api/api-client';
import { HostView } from '../api/views';
import { print, table } from '../output';
import { formatBytes } from '../sizes';

export function hostsCommand(api = new ApiClient()): Command {
  return new Command('hosts')
    .description('the hosts whose agents registered, with their region and status')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      const r = await api.get<{ hosts: HostView[] }>('/v1/hosts');
      // disks are the admin's view: a project sees where it may attach
      const admin = r.hosts.some((h) => h.dataDir !== undefined);
      print(!!o.json, r, () =>
        table(
          r.hosts.map((h) => ({ ...h, free: h.freeBytes === undefined ? '' : `${formatBytes(h.freeBytes)} of ${formatBytes(h.capacityBytes ?? 0)}` })),
          admin ? ['name', 'region', 'status', 'free', 'dataDir'] : ['name', 'region', 'status'],
        ),
      );
    });
}
