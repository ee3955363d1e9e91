import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SwiftProtocolError, SwiftUnavailableError } from '@island/swift';
import { BlockFaultPlan, InjectedBlockFaults } from './injected-block-faults';

describe('injected block faults', () => {
  let dir: string;
  let file: string;
  const body = randomBytes(1000);
  const a = randomBytes(32);
  const b = randomBytes(32);
  const plan = (p: BlockFaultPlan) => writeFileSync(file, JSON.stringify(p));

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'block-faults-'));
    file = join(dir, 'faults.json');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('change nothing when no file is configured, or the file is absent', async () => {
    let gets = 0;
    const get = async () => (gets++, body);
    expect(await new InjectedBlockFaults(undefined).read(a, 'c/o', get)).toBe(body);
    expect(await new InjectedBlockFaults(file).read(a, 'c/o', get)).toBe(body);
    expect(gets).toBe(2);
  });

  it('damage the named block as many times as asked, leaving the stored bytes and other blocks alone', async () => {
    const faults = new InjectedBlockFaults(file);
    plan({ corrupt: { [a.toString('hex')]: 2 }, truncate: { [b.toString('hex')]: 1 } });
    const reads = [];
    for (let i = 0; i < 3; i++) reads.push(await faults.read(a, 'c/a', async () => body));
    expect(reads.map((r) => r.equals(body))).toEqual([false, false, true]);
    expect(reads[0].subarray(0, 999).equals(body.subarray(0, 999))).toBe(true);
    expect(body[999]).not.toBe(reads[0][999]);
    await expect(faults.read(b, 'c/b', async () => body)).rejects.toThrow(
      new SwiftProtocolError('GET', 'c/b', 200, 'injected fault: reply ended after 500 of 1000 bytes'),
    );
    expect((await faults.read(b, 'c/b', async () => body)).equals(body)).toBe(true);
  });

  it('fail one read as Swift being unavailable after the reads allowed, without a GET, and start counting again when the file changes', async () => {
    const faults = new InjectedBlockFaults(file);
    plan({ unavailableAfterReads: 2 });
    let gets = 0;
    const get = async () => (gets++, body);
    const outcomes = [];
    for (let i = 0; i < 4; i++)
      outcomes.push(
        await faults.read(a, 'c/a', get).then(
          () => 'ok',
          (e) => e,
        ),
      );
    expect(outcomes.slice(0, 2)).toEqual(['ok', 'ok']);
    expect(outcomes[2]).toBeInstanceOf(SwiftUnavailableError);
    expect(outcomes[2].message).toContain('c/a');
    expect(outcomes[3]).toBe('ok');
    expect(gets).toBe(3);
    plan({ unavailableAfterReads: 0 });
    await expect(faults.read(a, 'c/a', get)).rejects.toBeInstanceOf(SwiftUnavailableError);
  });
});
