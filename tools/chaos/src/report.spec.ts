import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChaosReport, renderReport, updateDoc } from './report';

const report: ChaosReport = {
  seed: 9,
  command: 'npm run chaos -- --seed 9 --cycles 2',
  startedAt: '2026-12-01T00:00:00.000Z',
  minutes: 1.5,
  cycles: 2,
  actions: { snapshot: { ok: 1, endedWithReason: 1, skipped: 0, slowestSeconds: 4.2 } },
  faults: { 'kill -9 gc': { landed: 1, missed: 0 } },
  swift: { RegionOne: { requests: 10, '5xx': 1, stall: 0, reset: 0, flip: 2 } },
  sweptByDeadline: [],
  restoresChecked: 3,
  gibCompared: 0.1,
  final: null,
  findings: [],
};

describe('the chaos report', () => {
  it('shows the seed to run again, each fault and what was lost', () => {
    const text = renderReport(report);
    expect(text).toContain('`npm run chaos -- --seed 9 --cycles 2`');
    expect(text).toContain('| snapshot | 1 | 1 | 0 | 4.2 |');
    expect(text).toContain('| kill -9 gc | 1 | 0 |');
    expect(text).toContain('| RegionOne | 10 | 1 | 0 | 0 | 2 |');
    expect(text).toContain('**Lost or stuck: 0**');
    expect(renderReport({ ...report, findings: ['LOST: snapshot s'] })).toContain('**Lost or stuck: 1**: LOST: snapshot s');
  });

  it('replaces only the figures between the markers of the reliability page', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'chaos-doc-')), 'reliability.md');
    writeFileSync(path, 'before\n<!-- chaos:last-run:begin -->\nold figures\n<!-- chaos:last-run:end -->\nafter\n');
    updateDoc(path, 'new figures');
    expect(readFileSync(path, 'utf8')).toBe('before\n<!-- chaos:last-run:begin -->\nnew figures\n<!-- chaos:last-run:end -->\nafter\n');
    writeFileSync(path, 'no markers');
    expect(() => updateDoc(path, 'x')).toThrow(/has no <!-- chaos:last-run:begin -->/);
  });
});
