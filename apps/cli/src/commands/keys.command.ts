import { createInterface } from 'node:readline/promises';
import { Command } from 'commander';
import { ApiClient } from '../api/api-client';
import { OperationView } from '../api/views';
import { CliError } from '../cli-error';
import { print } from '../output';
import { waitOperation } from './operations.command';

interface ProjectKeyView {
  projectId: string;
  kekId: string;
  createdAt: string;
  rotatedAt: string | null;
  shreddedAt: string | null;
}

/** `island keys …`: projects' encryption keys (admin). */
export function keysCommand(api = new ApiClient()): Command {
  const keys = new Command('keys').description("projects' encryption keys and the key-encryption key (admin)");

  keys
    .command('list')
    .description('every project key: the KEK that wraps it, when it was made, re-wrapped or shredded (no key material)')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      const { keys: list } = await api.get<{ keys: ProjectKeyView[] }>('/v1/keys');
      print(!!o.json, { keys: list }, () =>
        list.length === 0
          ? 'no project has a key yet (one is made with its first snapshot)'
          : list
              .map((k) => `${k.projectId}  ${k.shreddedAt ? `shredded ${k.shreddedAt}` : `KEK ${k.kekId}${k.rotatedAt ? `, re-wrapped ${k.rotatedAt}` : ''}`}`)
              .join('\n'),
      );
    });

  keys
    .command('rotate')
    .description('make a new KEK current, re-wrap every project key with it (no block is rewritten), then retire the old KEK')
    .option('--no-wait', 'return once the rotation has started')
    .option('--json', 'print JSON')
    .action(async (o: { wait: boolean; json?: boolean }) => {
      const started = await api.post<OperationView>('/v1/keys/rotate', {});
      if (!o.wait) return print(!!o.json, started, () => `keys rotate ${started.id}: ${started.status}`);
      const report = (await waitOperation(api, started)).result ?? {};
      print(!!o.json, report, () => {
        const retired = (report.retiredKeks as string[] | undefined) ?? [];
        const unopenable = (report.unopenable as string[] | undefined) ?? [];
        return [
          `KEK ${String(report.kekId)} is current; ${Number(report.rewrapped)} project key(s) re-wrapped`,
          `retired: ${retired.join(', ') || 'none'}`,
          ...(unopenable.length > 0 ? [`not re-wrapped (their KEK is gone, their data unreadable): ${unopenable.join(', ')}`] : []),
        ].join('\n');
      });
    });

  keys
    .command('shred')
    .description("destroy a project's key: ALL its snapshots become unreadable at once, for good (crypto-shredding)")
    .argument('<PROJECT>', 'the project: its id, or with Keystone its name')
    .option('--confirm <PROJECT>', 'PROJECT again, as given, to confirm without being asked')
    .option('--json', 'print JSON')
    .action(async (project: string, o: { confirm?: string; json?: boolean }) => {
      const confirm = o.confirm ?? (await ask(`Every snapshot of project ${project} becomes unreadable, for good. Type the project again to confirm: `));
      if (confirm !== project) throw new CliError(`not confirmed: "${confirm}" is not ${project}; nothing was shredded`);
      const started = await api.post<OperationView>(`/v1/projects/${encodeURIComponent(project)}/key/shred`, { confirm });
      const report = (await waitOperation(api, started)).result ?? {};
      print(!!o.json, report, () => `the key of project ${project} was shredded at ${String(report.shreddedAt)}: its snapshots can no longer be read`);
    });

  return keys;
}

async function ask(question: string): Promise<string> {
  if (!process.stdin.isTTY) throw new CliError('shredding needs a confirmation: pass --confirm <PROJECT> (stdin is not a terminal)');
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return (await rl.question(question)).trim();
  } finally {
    rl.close();
  }
}
