import { execFileSync } from 'node:child_process';
import { FLOOR_MALLOC_TUNABLES } from './floors';

/** Seals 1 MiB blocks in a new node process started with GLIBC_TUNABLES=`tunables`; its minor page faults per MiB sealed. */
function faultsPerSealedMiB(tunables: string): number {
  const script = `
    const { createCipheriv, randomBytes } = require('node:crypto');
    const { readFileSync } = require('node:fs');
    const faults = () => Number(readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ')[7]);
    const key = randomBytes(32), block = randomBytes(1 << 20);
    const seal = (n) => { for (let i = 0; i < n; i++) { const c = createCipheriv('aes-256-gcm', key, randomBytes(12)); c.update(block); c.final(); } };
    seal(64); // the heap grows to its working size first
    const before = faults();
    seal(256);
    process.stdout.write(String((faults() - before) / 256));`;
  return Number(execFileSync(process.execPath, ['-e', script], { env: { ...process.env, GLIBC_TUNABLES: tunables }, encoding: 'utf8' }));
}

describe('the allocator settings the floors are measured under', () => {
  it('let a process seal 1 MiB blocks in memory it reuses, where a fresh MiB would fault in 256 pages', () => {
    // glibc ignores a tunable it does not know: a misspelled name would show here as ~256 faults per MiB
    expect(faultsPerSealedMiB(FLOOR_MALLOC_TUNABLES)).toBeLessThan(16);
  });
});
