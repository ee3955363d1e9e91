import { IslandStack } from '@island/stack';
import { Random } from './random';
import { RestartedService, SERVICE_RESTARTS } from './service-restarts';

/** A process of the stack killed with SIGKILL and started again, or a service restarted. */
export type FaultTarget = { kind: 'kill'; process: string } | { kind: 'restart'; service: RestartedService };

/** What the phase probe saw: a description of where the operation was (null: not in the phase). */
export type PhaseProbe = () => Promise<string | null>;

export interface FaultRecord {
  cycle: number;
  fault: string;
  /** The phase the fault was aimed at (e.g. "snapshot uploading"). */
  aimedAt: string;
  /** Where it landed: what the probe saw just before it struck; null when the phase was never seen (nothing was done). */
  landedAt: string | null;
  /** How long the process or service was down. */
  downMs: number;
  at: string;
}

export function faultName(target: FaultTarget): string {
  return target.kind === 'kill' ? `kill -9 ${target.process}` : `restart ${target.service}`;
}

/** Strikes faults at the phases they aim at, and keeps the record of each. */
export class FaultInjector {
  readonly records: FaultRecord[] = [];

  constructor(
    private readonly island: IslandStack,
    private readonly random: Random,
    private readonly log: (line: string) => void,
  ) {}

  /**
   * Waits (polling `probe` every 50 ms) until the operation is in the phase, then strikes; gives up when
   * `stillRunning()` turns false before the phase is seen.
   */
  async aimed(cycle: number, target: FaultTarget, aimedAt: string, probe: PhaseProbe, stillRunning: () => boolean): Promise<FaultRecord> {
    const downMs = this.random.int(200, 2500);
    let landedAt: string | null = null;
    while (stillRunning()) {
      landedAt = await probe().catch(() => null);
      if (landedAt) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const record: FaultRecord = { cycle, fault: faultName(target), aimedAt, landedAt, downMs, at: new Date().toISOString() };
    this.records.push(record);
    if (!landedAt) {
      this.log(`cycle ${cycle}: ${record.fault} aimed at ${aimedAt}: the phase passed unseen, nothing done`);
      return record;
    }
    this.log(`cycle ${cycle}: ${record.fault} at ${landedAt} (down ${downMs} ms)`);
    await this.strike(target, downMs);
    return record;
  }

  private async strike(target: FaultTarget, downMs: number): Promise<void> {
    if (target.kind === 'restart') return SERVICE_RESTARTS[target.service](downMs);
    await this.island.crash(target.process);
    await new Promise((r) => setTimeout(r, downMs));
    await this.island.revive(target.process);
  }
}
