import { existsSync, readFileSync } from 'node:fs';

/**
 * The pid a pid file names, while that process's command line still matches: a pid file under the data dir survives a
 * reboot of the host, and its pid may then be any process. A process that exited and awaits its parent's wait (a
 * zombie) has an empty command line, so it does not match either.
 */
export function pidFileProcess(pidFile: string, matches: (argv: string[]) => boolean): number | undefined {
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    return argv.length > 0 && matches(argv) ? pid : undefined;
  } catch {
    return undefined;
  }
}
