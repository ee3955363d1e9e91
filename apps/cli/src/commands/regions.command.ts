import { Command } from 'commander';
import { ApiClient } from '../api/api-client';
import { RegionView } from '../api/views';
import { print, table } from '../output';

export function regionsCommand(api = new ApiClient()): Command {
  return new Command('regions')
    .description('the configured regions (each its own Swift), with hosts online and what you keep there')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      const r = await api.get<{ regions: RegionView[] }>('/v1/regions');
      print(!!o.json, r, () =>
        table(
          r.regions.map((x) => ({ ...x, name: x.default ? `${x.name} (default)` : x.name })),
          ['name', 'hostsOnline', 'volumes', 'snapshots', 'swiftAuthUrl', 'container'],
        ),
      );
    });
}
