import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { CliError } from './cli-error';
import { hostsCommand } from './commands/hosts.command';
import { keysCommand } from './commands/keys.command';
import { operationsCommands } from './commands/operations.command';
import { opsCommand } from './commands/ops.command';
import { quotaCommand } from './commands/quota.command';
import { regionsCommand } from './commands/regions.command';
import { snapshotCommand } from './commands/snapshot.command';
import { volumeCommand } from './commands/volume.command';
import { imageCommand } from './image/image.command';

export function buildProgram(): Command {
  const program = new Command('island')
    .description('island: qcow2 volumes on local disks, incremental snapshots in Swift')
    .version(JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')).version)
    .showHelpAfterError()
    .exitOverride();
  program.addCommand(volumeCommand());
  program.addCommand(snapshotCommand());
  program.addCommand(hostsCommand());
  program.addCommand(regionsCommand());
  program.addCommand(quotaCommand());
  for (const command of operationsCommands()) program.addCommand(command);
  program.addCommand(opsCommand());
  program.addCommand(keysCommand());
  program.addCommand(imageCommand());
  return program;
}

export async function run(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return process.exitCode === undefined ? 0 : Number(process.exitCode);
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    if (error instanceof CliError) {
      process.stderr.write(`island: ${error.message}\n`);
      return error.exitCode;
    }
    process.stderr.write(`island: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}

if (require.main === module) {
  // exitCode, not exit(): stdout may still be draining into a pipe
  run(process.argv).then((code) => (process.exitCode = code));
}
