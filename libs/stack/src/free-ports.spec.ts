import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts, releasePorts } from './free-ports';

const reservation = (port: number) => join(tmpdir(), 'island-stack-ports', String(port));

/**
 * Ports another process gets from freePorts, asking `times` times for `count` (the built module: a child cannot load
 * the spec's TypeScript). Few at a time: each ask binds its ports for a moment, and stacks of other suites may be
 * starting beside this one.
 */
function portsOfAnotherProcess(times: number, count: number): number[] {
  const script = `
    const { freePorts, releasePorts } = require(${JSON.stringify(join(__dirname, '..', 'dist', 'free-ports.js'))});
    (async () => {
      const all = [];
      for (let i = 0; i < ${times}; i++) {
        const ports = await freePorts(${count});
        releasePorts(ports);
        all.push(...ports);
      }
      process.stdout.write(JSON.stringify(all));
    })();`;
  return JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })) as number[];
}

describe('freePorts', () => {
  it('never gives another process a port this one holds, until it is released', async () => {
    const mine = await freePorts(20);
    try {
      expect(new Set(mine).size).toBe(20);
      for (const port of mine) expect(readFileSync(reservation(port), 'utf8').trim()).toBe(String(process.pid));
      // the kernel hands just-closed ports out again: 2,400 asks among ~14,000 ports would meet some of these 20 (97 %)
      const theirs = portsOfAnotherProcess(120, 20);
      expect(theirs.filter((p) => mine.includes(p))).toEqual([]);
    } finally {
      releasePorts(mine);
    }
    for (const port of mine) expect(existsSync(reservation(port))).toBe(false);
  });
});
