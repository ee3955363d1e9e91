import { cpus, totalmem } from 'node:os';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { Benchmark, BenchmarkResult, formatRatio } from './benchmark';

const HEADER = `# Benchmarks

Produced by \`npm run bench\` (all) or \`npm run bench -- <name>…\` (some); each section is rewritten by its
own benchmark and says when and where it ran. Ratios compare island with the real alternative on the same
machine in the same run. The services come from \`scripts/services.sh up\` (Swift on loopback, one proxy
with 2 workers and one worker per backend server).
`;

export function machineDescription(): string {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  return `${cpus().length} × ${cpu}, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node ${process.version}`;
}

export function renderSection(benchmark: Benchmark, result: BenchmarkResult, startedAt: Date, seconds: number): string {
  const lines = [
    `<!-- bench:${benchmark.name} -->`,
    `## ${benchmark.title}`,
    '',
    `Ran ${startedAt.toISOString()} on ${machineDescription()} in ${seconds.toFixed(0)} s.`,
    `Reproduce: \`npm run bench -- ${benchmark.name}\``,
    '',
    '| metric | island | baseline | ratio | goal | |',
    '|---|---|---|---|---|---|',
    ...result.rows.map((r) => `| ${r.metric} | ${r.island} | ${r.baseline} | ${formatRatio(r.ratio)} | ${r.goal} | ${r.pass ? 'pass' : '**FAIL**'} |`),
  ];
  if (result.notes?.length) lines.push('', ...result.notes.map((n) => `- ${n}`));
  lines.push(`<!-- /bench:${benchmark.name} -->`);
  return lines.join('\n');
}

/** Replaces (or appends) each benchmark's section in the report, leaving the others as they were. */
export function updateReport(path: string, sections: Map<string, string>, order: string[]): void {
  const existing = existsSync(path) ? readFileSync(path, 'utf8') : '';
  const kept = new Map<string, string>();
  for (const match of existing.matchAll(/<!-- bench:([\w-]+) -->[\s\S]*?<!-- \/bench:\1 -->/g)) {
    kept.set(match[1], match[0]);
  }
  for (const [name, text] of sections) kept.set(name, text);
  const names = [...order.filter((n) => kept.has(n)), ...[...kept.keys()].filter((n) => !order.includes(n))];
  writeFileSync(path, `${HEADER}\n${names.map((n) => kept.get(n)).join('\n\n')}\n`);
}
