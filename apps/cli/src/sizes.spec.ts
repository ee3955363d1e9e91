import { CliError } from './cli-error';
import { formatBytes, parseSize } from './sizes';

describe('sizes', () => {
  it('reads byte counts with binary suffixes', () => {
    expect(parseSize('4096')).toBe(4096);
    expect(parseSize('64K')).toBe(65536);
    expect(parseSize('10G')).toBe(10 * 1024 ** 3);
    expect(parseSize('1t')).toBe(1024 ** 4);
    expect(parseSize('2MiB')).toBe(2 * 1024 ** 2);
  });

  it('refuses what is not a byte count, naming what was given', () => {
    expect(() => parseSize('-1')).toThrow(CliError);
    expect(() => parseSize('1.5G', '--size')).toThrow(/--size "1.5G" is not a byte count/);
    expect(() => parseSize('99999999999999999T')).toThrow(/too large/);
  });

  it('prints sizes with binary units', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536 * 1024)).toBe('1.5 MiB');
  });
});
