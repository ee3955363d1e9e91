import { Command, InvalidArgumentError } from 'commander';
import { ApiClient } from '../api/api-client';
import { OperationView } from '../api/views';
import { waitFor, WaitState } from '../api/wait';
import { print } from '../output';
import { formatBytes } from '../sizes';

const operationState = (o: OperationView): WaitState => {
  if (o.status === 'succeeded') return { state: 'done' };
  if (o.status === 'failed') return { state: 'failed', reason: o.error ?? `${o.kind} failed` };
  return { state: 'running', percent: o.progress, label: o.kind };
};

export const waitOperation = (api: ApiClient, o: OperationView) =>
  waitFor(() => api.get<OperationView>(`/v1/operations/${o.id}`), operationState, `${o.kind} ${o.id}`);

const seconds = (value: string): number => {
  if (!/^\d{1,7}$/.test(value)) throw new InvalidArgumentError('a whole number of seconds');
  return Number(value);
};

function mibPerSecond(value: string): number {
  if (!/^\d{1,6}(\.\d+)?$/.test(value)) throw new InvalidArgumentError('a number of MiB per second (0: unlimited)');
  return Number(value);
}

/** `island gc run`, `island fsck`, `island catalog rebuild`: the operator's commands (admin token). */
export function operationsCommands(api = new ApiClient()): Command[] {
  const gc = new Command('gc').description('garbage collection of blocks no snapshot references (admin)');
  gc.command('run')
    .description('delete blocks without references past the grace window, and manifests of deleted snapshots')
    .option('--region <REGION>', "region (default: the API's)")
    .option('--grace <SECONDS>', 'grace window in seconds (default: the configured one); 0 deletes at once', seconds)
    .option('--dry-run', 'only count what would be deleted')
    .option('--wait', 'wait for the run and print its report')
    .option('--json', 'print JSON')
    .action(async (o: { region?: string; grace?: number; dryRun?: boolean; wait?: boolean; json?: boolean }) => {
      const started = await api.post<OperationView>('/v1/gc/runs', {
        ...(o.region !== undefined && { region: o.region }),
        ...(o.grace !== undefined && { graceSeconds: o.grace }),
        ...(o.dryRun && { dryRun: true }),
      });
      if (!o.wait) return print(!!o.json, started, () => `gc run ${started.id}: ${started.status}`);
      const report = (await waitOperation(api, started)).result ?? {};
      print(!!o.json, report, () =>
        [
          `${o.dryRun ? 'would delete' : 'deleted'} ${Number(report.blocksDeleted)} block(s), ${formatBytes(Number(report.bytesFreed))}` +
            ` and ${Number(report.manifestsDeleted)} manifest(s)`,
          `${Number(report.blocksPending)} block(s) (${formatBytes(Number(report.bytesPending))}) wait out the grace window`,
        ].join('\n'),
      );
    });

  const fsck = new Command('fsck')
    .description('check a region: reference counts, manifests, and blocks in Swift (admin); exits 1 when problems remain')
    .option('--region <REGION>', "region (default: the API's)")
    .option('--deep', 'also read every block and verify its checksum')
    .option('--repair', 'correct reference counts, delete orphans, repair lost blocks from another region, mark the rest damaged')
    .option('--rate <MiB/s>', "MiB per second the deep read may take from Swift (0: unlimited; default: the GC worker's ISLAND_SCRUB_MIB_PER_S)", mibPerSecond)
    .option('--json', 'print JSON')
    .action(async (o: { region?: string; deep?: boolean; repair?: boolean; rate?: number; json?: boolean }) => {
      const started = await api.post<OperationView>('/v1/fsck', {
        ...(o.region !== undefined && { region: o.region }),
        ...(o.deep && { deep: true }),
        ...(o.repair && { repair: true }),
        ...(o.rate !== undefined && { mibPerSecond: o.rate }),
      });
      const report = (await waitOperation(api, started)).result ?? {};
      const problems = (report.problems as { kind: string }[] | undefined) ?? [];
      print(!!o.json, report, () =>
        report.ok
          ? `region ${String(report.region)}: ok`
          : [`region ${String(report.region)}: ${problems.length} problem(s)`, ...problems.map((p) => `  ${JSON.stringify(p)}`)].join('\n'),
      );
      if (!report.ok) process.exitCode = 1;
    });

  const catalog = new Command('catalog').description('the catalog of volumes, snapshots and block references (admin)');
  catalog
    .command('rebuild')
    .description('rebuild an empty catalog of a region from the manifests and blocks in its Swift')
    .requiredOption('--region <REGION>', 'the region to rebuild')
    .option('--accept-plain', 'also from plain manifests written before encryption (they authenticate nothing)')
    .option('--wait', 'wait for the rebuild and print its report')
    .option('--json', 'print JSON')
    .action(async (o: { region: string; acceptPlain?: boolean; wait?: boolean; json?: boolean }) => {
      const started = await api.post<OperationView>('/v1/catalog/rebuild', { region: o.region, ...(o.acceptPlain && { acceptPlain: true }) });
      if (!o.wait) return print(!!o.json, started, () => `catalog rebuild ${started.id}: ${started.status}`);
      const report = (await waitOperation(api, started)).result ?? {};
      print(!!o.json, report, () =>
        Object.entries(report)
          .map(([k, v]) => `${k}: ${String(v)}`)
          .join('\n'),
      );
    });

  return [gc, fsck, catalog];
}
