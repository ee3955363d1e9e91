import { Command } from 'commander';
import { ApiClient } from '../api/api-client';
import { OperationView, RunningOperationView } from '../api/views';
import { CliError } from '../cli-error';
import { print, table } from '../output';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** `island ops …`: the long operations (attach, snapshot, revert, GC run…): what runs, what is stuck, one's state. */
export function opsCommand(api = new ApiClient()): Command {
  const ops = new Command('ops').description("long operations: the project's own, every one with the admin token");
  ops
    .command('list')
    .description('running operations, least recently progressing first')
    .option('--stuck', 'only those without progress for over two minutes (the API ends them at their deadline)')
    .option('--json', 'print JSON')
    .action(async (o: { stuck?: boolean; json?: boolean }) => {
      const r = await api.get<{ operations: RunningOperationView[] }>(`/v1/operations${o.stuck ? '?stuck=true' : ''}`);
      print(!!o.json, r, () =>
        r.operations.length === 0
          ? o.stuck
            ? 'no stuck operations'
            : 'no running operations'
          : table(
              r.operations.map((op) => ({
                ...op,
                resource: `${op.resourceType} ${op.resourceId}`,
                progress: `${op.progress}%`,
                idle: `${op.idleSeconds} s`,
                'ends after': `${op.deadlineSeconds} s idle`,
              })),
              ['id', 'kind', 'resource', 'progress', 'idle', 'ends after'],
            ),
      );
    });
  ops
    .command('show')
    .description('one operation: its state, progress, and the reason it failed')
    .argument('<OPERATION_ID>')
    .option('--json', 'print JSON')
    .action(async (id: string, o: { json?: boolean }) => {
      if (!UUID.test(id)) throw new CliError(`${id} is not an operation id`, 2);
      const op = await api.get<OperationView>(`/v1/operations/${id}`);
      print(!!o.json, op, () =>
        [
          `${op.kind} ${op.id} of ${op.resourceType} ${op.resourceId}: ${op.status} (${op.progress}%)`,
          `started ${op.createdAt}, last progress ${op.updatedAt}${op.finishedAt ? `, ended ${op.finishedAt}` : ''}`,
          ...(op.error ? [`reason: ${op.error}`] : []),
        ].join('\n'),
      );
    });
  return ops;
}
