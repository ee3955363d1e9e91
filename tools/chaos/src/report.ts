import { readFileSync, writeFileSync } from 'node:fs';
import { ActionName, ChaosRun } from './chaos-run';
import { FinalFigures } from './final-check';
import { SWIFT_FAULTS, SwiftFaultProxy } from './swift-fault-proxy';

export interface ChaosReport {
  seed: number;
  command: string;
  startedAt: string;
  minutes: number;
  cycles: number;
  actions: Record<string, { ok: number; endedWithReason: number; skipped: number; slowestSeconds: number }>;
  faults: Record<string, { landed: number; missed: number }>;
  swift: Record<string, { requests: number } & Record<string, number>>;
  /** Cycles whose operation the API's deadline sweeper ended: nothing reported its end (a lost message, a hung process). */
  sweptByDeadline: string[];
  restoresChecked: number;
  gibCompared: number;
  final: FinalFigures | null;
  findings: string[];
}

export function buildReport(
  run: ChaosRun,
  proxies: Record<string, SwiftFaultProxy>,
  final: FinalFigures | null,
  meta: { seed: number; command: string; startedAt: Date },
): ChaosReport {
  const actions: ChaosReport['actions'] = {};
  for (const c of run.cycles) {
    const a = (actions[c.action as ActionName] ??= { ok: 0, endedWithReason: 0, skipped: 0, slowestSeconds: 0 });
    a.slowestSeconds = Math.max(a.slowestSeconds, Math.round(c.ms / 100) / 10);
    if (c.outcome === 'ok') a.ok += 1;
    else if (c.outcome === 'ended-with-reason') a.endedWithReason += 1;
    else a.skipped += 1;
  }
  const faults: ChaosReport['faults'] = {};
  for (const f of run.faults.records) {
    const tally = (faults[f.fault] ??= { landed: 0, missed: 0 });
    if (f.landedAt) tally.landed += 1;
    else tally.missed += 1;
  }
  const swift: ChaosReport['swift'] = {};
  for (const [region, proxy] of Object.entries(proxies)) swift[region] = { requests: proxy.requests, ...proxy.injected };
  return {
    seed: meta.seed,
    command: meta.command,
    startedAt: meta.startedAt.toISOString(),
    minutes: Math.round((Date.now() - meta.startedAt.getTime()) / 600) / 100,
    cycles: run.cycles.length,
    actions,
    faults,
    swift,
    sweptByDeadline: run.cycles.filter((c) => /no progress for \d+ s/.test(c.detail)).map((c) => `cycle ${c.cycle} (${c.action}): ${c.detail}`),
    restoresChecked: run.restoresChecked,
    gibCompared: Math.round((run.bytesCompared / 2 ** 30) * 100) / 100,
    final,
    findings: run.findings,
  };
}

/** The figures as a Markdown section for docs/reliability.md. */
export function renderReport(r: ChaosReport): string {
  const lines = [
    `Last run: \`${r.command}\` — seed ${r.seed}, started ${r.startedAt}, ${r.minutes} min, ${r.cycles} cycles.`,
    '',
    '| operation | ended well | ended with a reason | skipped | slowest cycle (s) |',
    '|---|---|---|---|---|',
    ...Object.entries(r.actions).map(([a, t]) => `| ${a} | ${t.ok} | ${t.endedWithReason} | ${t.skipped} | ${t.slowestSeconds} |`),
    '',
    '| fault | landed | phase passed unseen |',
    '|---|---|---|',
    ...Object.entries(r.faults)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([f, t]) => `| ${f} | ${t.landed} | ${t.missed} |`),
    '',
    `| Swift (through the fault proxy) | requests | ${SWIFT_FAULTS.join(' | ')} |`,
    `|---|---|${SWIFT_FAULTS.map(() => '---').join('|')}|`,
    ...Object.entries(r.swift).map(([region, s]) => `| ${region} | ${s.requests} | ${SWIFT_FAULTS.map((f) => s[f]).join(' | ')} |`),
    '',
    `Operations the deadline sweeper had to end (nothing reported their end): ${r.sweptByDeadline.length}${r.sweptByDeadline.length ? ` — ${r.sweptByDeadline.join('; ')}` : ''}.`,
    `Restores compared with the model: ${r.restoresChecked} (${r.gibCompared} GiB), of which ${r.final?.snapshotsRestored ?? 0} in the final check (every snapshot still available: ${r.final?.snapshotsAvailable ?? '—'}); pool volumes checked: ${r.final?.poolVolumesChecked ?? '—'}.`,
    `fsck --deep: ${
      r.final
        ? Object.entries(r.final.fsck)
            .map(([region, op]) => `${region} ${(op.result as { ok?: boolean } | null)?.ok ? 'clean' : 'NOT clean'}`)
            .join(', ')
        : '—'
    }.`,
    `**Lost or stuck: ${r.findings.length}**${r.findings.length ? `: ${r.findings.join('; ')}` : ''}.`,
  ];
  return lines.join('\n');
}

const BEGIN = '<!-- chaos:last-run:begin -->';
const END = '<!-- chaos:last-run:end -->';

/** Replaces the last-run figures between the markers in docs/reliability.md. */
export function updateDoc(path: string, section: string): void {
  const text = readFileSync(path, 'utf8');
  const from = text.indexOf(BEGIN);
  const to = text.indexOf(END);
  if (from < 0 || to < from) throw new Error(`${path} has no ${BEGIN} … ${END} markers`);
  writeFileSync(path, `${text.slice(0, from + BEGIN.length)}\n${section}\n${text.slice(to)}`);
}
