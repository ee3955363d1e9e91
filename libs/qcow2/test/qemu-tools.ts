import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** qemu-img / qemu-io from Debian's qemu-utils: the peer island's qcow2 must agree with. */
export function qemuImg(...args: string[]): string {
  return execFileSync('qemu-img', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export function qemuIo(path: string, ...commands: string[]): void {
  execFileSync('qemu-io', ['-f', 'qcow2', ...commands.flatMap((c) => ['-c', c]), path], { stdio: ['ignore', 'pipe', 'pipe'] });
}

/** The guest bytes qemu-img sees: the active image, or one snapshot. */
export function qemuRaw(dir: string, image: string, snapshot?: string): Buffer {
  const out = join(dir, `raw-${Math.random().toString(36).slice(2)}`);
  qemuImg('convert', ...(snapshot ? ['-l', `snapshot.name=${snapshot}`] : []), '-O', 'raw', image, out);
  const data = readFileSync(out);
  rmSync(out);
  return data;
}

/** `qemu-img check --output=json`; exit status 2/3 still yields the report. */
export function qemuCheck(image: string): { errors: number; leaks: number; corruptions: number } {
  let text: string;
  try {
    text = qemuImg('check', '--output=json', image);
  } catch (error) {
    text = String((error as { stdout?: string }).stdout ?? '');
  }
  const report = JSON.parse(text) as { 'check-errors'?: number; leaks?: number; corruptions?: number };
  return { errors: report['check-errors'] ?? 0, leaks: report.leaks ?? 0, corruptions: report.corruptions ?? 0 };
}

export function scratchDir(name: string): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), `island-qcow2-${name}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Deterministic pseudo-random numbers, so a failing case can be replayed. */
export function seeded(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}
