import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { BENCHMARKS } from './registry';
import { renderSection, updateReport } from './report';

async function main(argv: string[]): Promise<number> {
  const wanted = argv.filter((a) => !a.startsWith('-'));
  const unknown = wanted.filter((n) => !BENCHMARKS.some((b) => b.name === n));
  if (unknown.length > 0) {
    process.stderr.write(`unknown benchmark(s): ${unknown.join(', ')}; known: ${BENCHMARKS.map((b) => b.name).join(', ')}\n`);
    return 2;
  }
  const selected = wanted.length ? BENCHMARKS.filter((b) => wanted.includes(b.name)) : BENCHMARKS;
  const sections = new Map<string, string>();
  let failed = 0;
  for (const benchmark of selected) {
    const workDir = mkdtempSync(join(process.env.ISLAND_BENCH_DIR ?? tmpdir(), `island-bench-${benchmark.name}-`));
    const startedAt = new Date();
    const log = (m: string) => process.stderr.write(`[${benchmark.name}] ${m}\n`);
    try {
      log('running');
      const result = await benchmark.run({ workDir, log });
      const section = renderSection(benchmark, result, startedAt, (Date.now() - startedAt.getTime()) / 1000);
      sections.set(benchmark.name, section);
      process.stdout.write(`${section}\n\n`);
      failed += result.rows.filter((r) => !r.pass).length;
    } catch (error) {
      log(`failed: ${error instanceof Error ? error.stack : String(error)}`);
      failed += 1;
    } finally {
      rmSync(workDir, { recursive: true, force: true });
    }
  }
  updateReport(
    join(__dirname, '..', '..', '..', 'docs', 'benchmarks.md'),
    sections,
    BENCHMARKS.map((b) => b.name),
  );
  return failed > 0 ? 1 : 0;
}

main(process.argv.slice(2)).then((code) => (process.exitCode = code));
