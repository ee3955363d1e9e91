import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { SwiftProtocolError, SwiftUnavailableError } from '@island/swift';

/** What the fault file asks for; every field optional. */
export interface BlockFaultPlan {
  /** Block hash (hex) → how many of its next bodies arrive with a byte flipped (-1: all of them). */
  corrupt?: Record<string, number>;
  /** Block hash (hex) → how many of its next replies end halfway, as the Swift client reports a reply cut short (-1: all of them). */
  truncate?: Record<string, number>;
  /** Once this many block reads went through, the next one fails once as if Swift were down (a transient error). */
  unavailableAfterReads?: number;
  /** Every block read waits this long first: a slow Swift, so that a test can catch a restore mid-way. */
  readDelayMs?: number;
}

interface FaultState {
  text: string;
  plan: BlockFaultPlan;
  reads: number;
  damaged: Map<string, number>;
}

/**
 * Damage a test makes block reads suffer, to prove that readers heal or fail cleanly. ISLAND_INJECT_BLOCK_FAULTS names
 * a JSON file (a BlockFaultPlan) that the test writes, and rewrites, while the stack runs; every count starts again when
 * the file's content changes. Unset in production: no file is read and every read goes straight to Swift.
 */
export class InjectedBlockFaults {
  private state: FaultState | undefined;

  constructor(private readonly file: string | undefined) {}

  /** Reads a block object through `get`, with whatever damage the plan asks for. */
  async read(hash: Buffer, object: string, get: () => Promise<Buffer>): Promise<Buffer> {
    if (!this.file) return get();
    const state = await this.current(this.file);
    const { plan } = state;
    if (plan.readDelayMs) await sleep(plan.readDelayMs);
    state.reads += 1;
    if (plan.unavailableAfterReads !== undefined && state.reads === plan.unavailableAfterReads + 1) {
      throw new SwiftUnavailableError('GET', object, 503, 'injected fault: Swift unavailable');
    }
    const body = await get();
    const key = hash.toString('hex');
    if (this.takeDamage(state, 'corrupt', key)) {
      const damaged = Buffer.from(body);
      damaged[damaged.length - 1] ^= 0xff;
      return damaged;
    }
    if (this.takeDamage(state, 'truncate', key)) {
      throw new SwiftProtocolError('GET', object, 200, `injected fault: reply ended after ${body.length >> 1} of ${body.length} bytes`);
    }
    return body;
  }

  private takeDamage(state: FaultState, kind: 'corrupt' | 'truncate', key: string): boolean {
    const allowed = state.plan[kind]?.[key];
    if (allowed === undefined) return false;
    const counter = `${kind}:${key}`;
    const done = state.damaged.get(counter) ?? 0;
    if (allowed >= 0 && done >= allowed) return false;
    state.damaged.set(counter, done + 1);
    return true;
  }

  private async current(file: string): Promise<FaultState> {
    const text = await readFile(file, 'utf8').catch(() => '{}');
    if (this.state?.text !== text) this.state = { text, plan: JSON.parse(text || '{}') as BlockFaultPlan, reads: 0, damaged: new Map() };
    return this.state;
  }
}

/** This process's injected block faults (none unless ISLAND_INJECT_BLOCK_FAULTS is set). */
export const injectedBlockFaults = new InjectedBlockFaults(process.env.ISLAND_INJECT_BLOCK_FAULTS || undefined);
