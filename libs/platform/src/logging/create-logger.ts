import { ConsoleLogger, LogLevel as NestLogLevel } from '@nestjs/common';
import { LogLevel } from '@island/config';

const LEVELS: NestLogLevel[] = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'];

/** The console logger every island process uses: its name as context, levels up to the configured one. */
export function createLogger(processName: string, level: LogLevel): ConsoleLogger {
  const upTo = LEVELS.indexOf(level);
  return new ConsoleLogger(processName, { logLevels: LEVELS.slice(0, upTo + 1), timestamp: false });
}
