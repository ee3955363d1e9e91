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
      print(!!o.json, r, () =>
        table(
          r.hosts.map((h) => ({ ...h, free: `${formatBytes(h.freeBytes)} of ${formatBytes(h.capacityBytes)}` })),
          ['name', 'region', 'status', 'free', 'dataDir'],
        ),
      );
    });
}
