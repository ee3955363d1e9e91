import { Command, InvalidArgumentError } from 'commander';
import { ApiClient } from '../api/api-client';
import { print, table } from '../output';

interface QuotaView {
  projectId: string;
  limits: Record<Resource, number | null>;
  usage: Record<Resource, number>;
  snapshotRetentionSeconds: number;
  snapshotRetentionIsDefault: boolean;
}
type Resource = 'volumes' | 'snapshots' | 'gigabytes';
const RESOURCES: Resource[] = ['volumes', 'snapshots', 'gigabytes'];

/** A limit: a whole number, or `default` (the configured default, ISLAND_QUOTA_*; sent as null). */
function limit(value: string): string {
  if (value !== 'default' && !/^\d+$/.test(value)) throw new InvalidArgumentError('a whole number, or "default"');
  return value;
}

const describe = (q: QuotaView) =>
  `project ${q.projectId}\n` +
  table(
    RESOURCES.map((r) => ({ resource: r, used: String(q.usage[r]), limit: q.limits[r] === null ? 'unlimited' : String(q.limits[r]) })),
    ['resource', 'used', 'limit'],
  ) +
  `\ndeleted snapshots stay restorable for ${q.snapshotRetentionSeconds} s${q.snapshotRetentionSeconds === 0 ? ' (no recycle bin)' : ''}${q.snapshotRetentionIsDefault ? ' (the default)' : ''}`;

export function quotaCommand(api = new ApiClient()): Command {
  const quota = new Command('quota').description("a project's limits (volumes, snapshots, gigabytes), what it uses, and its snapshots' recycle-bin retention");

  quota
    .command('show [PROJECT]')
    .description("your project's limits and usage; the admin may name any project (its id, or with Keystone its name)")
    .option('--json', 'print JSON')
    .action(async (project: string | undefined, o: { json?: boolean }) => {
      const q = await api.get<QuotaView>(project ? `/v1/quotas/${encodeURIComponent(project)}` : '/v1/quotas');
      print(!!o.json, q, () => describe(q));
    });

  quota
    .command('set <PROJECT>')
    .description('admin: set a project\'s own limits ("default": back to the configured default); PROJECT: its id, or with Keystone its name')
    .option('--volumes <N>', 'volumes', limit)
    .option('--snapshots <N>', 'snapshots (copies in other regions count)', limit)
    .option('--gigabytes <N>', "GiB of volumes' provisioned size", limit)
    .option('--snapshot-retention <SECONDS>', 'seconds deleted snapshots stay restorable in the recycle bin (0: no bin)', limit)
    .option('--json', 'print JSON')
    .action(async (project: string, o: Partial<Record<Resource, string>> & { snapshotRetention?: string; json?: boolean }) => {
      const given: [string, string | undefined][] = [
        ...RESOURCES.map((r) => [r, o[r]] as [string, string | undefined]),
        ['snapshotRetentionSeconds', o.snapshotRetention],
      ];
      const body = Object.fromEntries(given.flatMap(([field, v]) => (v === undefined ? [] : [[field, v === 'default' ? null : Number(v)]])));
      const q = await api.put<QuotaView>(`/v1/quotas/${encodeURIComponent(project)}`, body);
      print(!!o.json, q, () => describe(q));
    });

  return quota;
}
