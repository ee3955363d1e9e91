import { CliError } from './cli-error';

const UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/** Parses a byte count with an optional binary suffix (K, M, G, T; "KiB"/"KB" spellings accepted). */
export function parseSize(text: string, what = 'size'): number {
  const match = /^(\d+)\s*([KMGT]?)(i?B)?$/i.exec(text.trim());
  if (!match) throw new CliError(`${what} ${JSON.stringify(text)} is not a byte count (e.g. 4096, 64K, 10G)`);
  const value = Number(match[1]) * UNITS[match[2].toUpperCase()];
  if (!Number.isSafeInteger(value)) throw new CliError(`${what} ${text} is too large`);
  return value;
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}
