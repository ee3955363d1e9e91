import { Command } from 'commander';
import { ApiClient } from '../api/api-client';
import { DeadLetterView, OperationView, RunningOperationView } from '../api/views';
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
  ops
    .command('dead-letters')
    .description('messages that failed for good, newest first, with the reason (admin)')
    .option('--pending', 'only those not re-sent')
    .option('--json', 'print JSON')
    .action(async (o: { pending?: boolean; json?: boolean }) => {
      const r = await api.get<{ deadLetters: DeadLetterView[] }>(`/v1/dead-letters${o.pending ? '?pending=true' : ''}`);
      print(!!o.json, r, () =>
        r.deadLetters.length === 0
          ? 'no dead letters'
          : table(
              r.deadLetters.map((d) => ({ ...d, 'failed at': d.failedAt, 're-sent': d.retriedAt ?? '' })),
              ['id', 'contract', 'failed at', 're-sent', 'reason'],
            ),
      );
    });
  ops
    .command('retry')
    .description('send a dead letter again, as a first attempt, once what made it fail is fixed (admin)')
    .argument('<DEAD_LETTER_ID>')
    .option('--json', 'print JSON')
    .action(async (id: string, o: { json?: boolean }) => {
      if (!/^\d{1,18}$/.test(id)) throw new CliError(`${id} is not a dead letter id (see island ops dead-letters)`, 2);
      const d = await api.post<DeadLetterView>(`/v1/dead-letters/${id}/retry`, {});
      print(!!o.json, d, () => `dead letter ${d.id} (${d.contract}) sent again to ${d.routingKey}`);
    });
  return ops;
}
