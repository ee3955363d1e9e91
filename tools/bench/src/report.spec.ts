import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { renderSection, updateReport } from './report';

describe('benchmark report', () => {
  const bench = (name: string) => ({ name, title: `Title ${name}`, run: async () => ({ rows: [] }) });
  const result = { rows: [{ metric: 'PUT 4 MiB', island: '200 MiB/s', baseline: 'curl 210 MiB/s', ratio: 0.952, goal: '≥ 0.9×', pass: true }] };

  it('renders a section with the ratio, the goal and the command that reproduces it', () => {
    const text = renderSection(bench('swift'), result, new Date('2026-01-01T00:00:00Z'), 12);
    expect(text).toContain('| PUT 4 MiB | 200 MiB/s | curl 210 MiB/s | 0.95× | ≥ 0.9× | pass |');
    expect(text).toContain('npm run bench -- swift');
  });

  it('rewrites only the sections of the benchmarks that ran', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'report-')), 'benchmarks.md');
    const at = new Date();
    updateReport(
      path,
      new Map([
        ['a', renderSection(bench('a'), result, at, 1)],
        ['b', renderSection(bench('b'), result, at, 1)],
      ]),
      ['a', 'b'],
    );
    const failing = { rows: [{ ...result.rows[0], pass: false }] };
    updateReport(path, new Map([['b', renderSection(bench('b'), failing, at, 1)]]), ['a', 'b']);
    const text = readFileSync(path, 'utf8');
    expect(text.indexOf('Title a')).toBeLessThan(text.indexOf('Title b'));
    expect(text.match(/\*\*FAIL\*\*/g)).toHaveLength(1);
    expect(text.match(/<!-- bench:b -->/g)).toHaveLength(1);
    writeFileSync(path, '');
  });
});
