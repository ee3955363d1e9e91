import { guestIo, IslandStack } from '@island/stack';
import { Client } from 'pg';
import { ChaosApi } from './api-client';
import { ChaosModel, SnapshotModel, VolumeModel } from './chaos-model';
import { FaultInjector, faultName, FaultTarget, PhaseProbe } from './faults';
import { Random } from './random';
import { FaultRates, NO_FAULTS, SwiftFaultProxy } from './swift-fault-proxy';

type Json = Record<string, unknown>;

export const ACTIONS = ['write', 'snapshot', 'group-snapshot', 'restore', 'revert', 'copy', 'delete-snapshot', 'replace-volume', 'gc'] as const;
export type ActionName = (typeof ACTIONS)[number];

const ACTION_WEIGHTS: Record<ActionName, number> = {
  write: 24,
  snapshot: 22,
  'group-snapshot': 7,
  restore: 12,
  revert: 8,
  copy: 7,
  'delete-snapshot': 12,
  'replace-volume': 4,
  gc: 8,
};

/** A Swift fault window: the rates the proxies are set to for one cycle's operation. */
const SWIFT_WINDOW: FaultRates = { '5xx': 0.08, stall: 0.02, reset: 0.04, flip: 0.04 };
/** How long an operation may take to end under faults before the run calls it stuck (its deadline is shorter). */
const OPERATION_ENDS_WITHIN_MS = 8 * 60_000;
const MIB = 1 << 20;

/** A fault a cycle may strike: what, and where in the cycle's operation it aims (a probe that sees the phase). */
interface FaultChoice {
  target: FaultTarget;
  aimedAt: string;
  probe: PhaseProbe;
}

export interface ScheduledCycle {
  action: ActionName;
  /** The fault to aim, by its description (`kill -9 worker-1`, `restart postgres`); none when absent. */
  fault?: string;
  swiftWindow?: boolean;
  /** The pool volume a write or snapshot uses (by index), instead of a random one. */
  volume?: number;
  /** A delete takes the oldest available snapshot instead of a random one. */
  oldest?: boolean;
}

export interface ChaosSettings {
  cycles: number;
  volumes: number;
  volumeMiB: number;
  /** The chance a cycle strikes a fault at its operation, and that it runs in a Swift fault window. */
  faultChance: number;
  swiftWindowChance: number;
  /** Cycles to run first, exactly as given (the CI slice: one aimed fault of each kind). */
  schedule: ScheduledCycle[];
  /** Stop starting cycles after this long. */
  timeLimitMs: number;
}

export interface CycleRecord {
  cycle: number;
  action: ActionName;
  outcome: 'ok' | 'ended-with-reason' | 'skipped';
  detail: string;
  swiftWindow: boolean;
  ms: number;
}

/** One chaos run on a started stack: the cycles, the model of what was written, the findings (anything lost or stuck). */
export class ChaosRun {
  readonly model = new ChaosModel();
  readonly cycles: CycleRecord[] = [];
  readonly findings: string[] = [];
  restoresChecked = 0;
  bytesCompared = 0;
  readonly api: ChaosApi;
  private readonly io: ReturnType<typeof guestIo>;

  constructor(
    readonly island: IslandStack,
    private readonly random: Random,
    readonly faults: FaultInjector,
    private readonly proxies: Record<string, SwiftFaultProxy>,
    private readonly settings: ChaosSettings,
    private readonly log: (line: string) => void,
  ) {
    this.api = new ChaosApi(island);
    this.io = guestIo(island);
  }

  get hostTwo(): string {
    return this.island.hosts[1].name;
  }

  async setUp(): Promise<void> {
    for (let i = 0; i < this.settings.volumes; i++) await this.createPoolVolume();
  }

  /** A new volume of the pool, attached on the first host and written full. */
  private async createPoolVolume(): Promise<VolumeModel> {
    const volume = await this.api.must<Json>('POST', '/v1/volumes', { sizeBytes: this.settings.volumeMiB * MIB, name: 'chaos-pool' }, [201]);
    const id = String(volume.id);
    const model: VolumeModel = { id, path: '', content: Buffer.alloc(this.settings.volumeMiB * MIB) };
    await this.reattach(model);
    this.model.volumes.set(id, model);
    // full from the start: later writes replace blocks, which leaves GC something to collect
    await this.io.write(model.path, 0, this.random.bytes(model.content.length), model.content);
    return model;
  }

  private async detach(volumeId: string): Promise<void> {
    await this.api.must('POST', `/v1/volumes/${volumeId}/detach`, undefined, [200, 202]);
    await this.api.until<Json>(
      `/v1/volumes/${volumeId}`,
      (b) => b.status === 'available' && b.attached === false,
      `detach ${volumeId}`,
      OPERATION_ENDS_WITHIN_MS,
    );
  }

  /** A probe that sees a volume in `status`. */
  private volumeIn(volumeId: string, status: string, description: string): PhaseProbe {
    return async () => ((await this.island.request<Json>('GET', `/v1/volumes/${volumeId}`)).body.status === status ? description : null);
  }

  /** A pool volume deleted with its snapshots (cascade), and a new one in its place. */
  private async replaceVolume(volume: VolumeModel, strike: (c: FaultChoice[]) => { end: () => Promise<void> }) {
    const deleting = this.volumeIn(volume.id, 'deleting', `volume ${volume.id} deleting`);
    await this.detach(volume.id);
    const fault = strike([
      { target: { kind: 'kill', process: 'agent' }, aimedAt: 'volume deleting', probe: deleting },
      { target: { kind: 'kill', process: 'api' }, aimedAt: 'volume deleting', probe: deleting },
    ]);
    try {
      const res = await this.api.request<Json>('DELETE', `/v1/volumes/${volume.id}?cascade=true`);
      if (res.status !== 202) throw new Error(`delete volume ${volume.id} with its snapshots: ${res.status} ${JSON.stringify(res.body)}`);
      const v = await this.api.until<Json>(
        `/v1/volumes/${volume.id}`,
        (b) => ['gone', 'deleted', 'error'].includes(String(b.status)),
        `delete ${volume.id}`,
        OPERATION_ENDS_WITHIN_MS,
      );
      // its snapshots went first, in the same transaction as the request: whatever happened to the image after
      for (const s of this.model.snapshots.values()) if (s.volumeId === volume.id && s.outcome === 'available') s.outcome = 'deleted';
      this.model.volumes.delete(volume.id);
      const replacement = await this.createPoolVolume();
      if (v.status === 'error') {
        if (!v.statusReason) throw new Error(`delete of volume ${volume.id} failed without a reason`);
        return { outcome: 'ended-with-reason' as const, detail: `delete of ${volume.id}: ${v.statusReason}; replaced by ${replacement.id}` };
      }
      return { outcome: 'ok' as const, detail: `volume ${volume.id} deleted with its snapshots, replaced by ${replacement.id}` };
    } finally {
      await fault.end();
    }
  }

  async runCycles(): Promise<void> {
    const started = Date.now();
    for (let cycle = 1; cycle <= this.settings.cycles; cycle++) {
      if (Date.now() - started > this.settings.timeLimitMs) {
        this.log(`time limit reached after ${cycle - 1} cycles`);
        break;
      }
      const scheduled = this.settings.schedule[cycle - 1];
      const action = scheduled?.action ?? this.random.weighted(ACTION_WEIGHTS);
      const swiftWindow = scheduled ? scheduled.swiftWindow === true : this.random.chance(this.settings.swiftWindowChance);
      const at = Date.now();
      if (swiftWindow) this.setSwiftRates(SWIFT_WINDOW);
      try {
        const { outcome, detail } = await this.runAction(cycle, action, scheduled);
        this.cycles.push({ cycle, action, outcome, detail, swiftWindow, ms: Date.now() - at });
        this.log(`cycle ${cycle}: ${action}${swiftWindow ? ' (Swift faults)' : ''} → ${outcome}: ${detail} (${((Date.now() - at) / 1000).toFixed(1)} s)`);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        this.findings.push(`cycle ${cycle} (${action}): ${message}`);
        this.cycles.push({ cycle, action, outcome: 'skipped', detail: message, swiftWindow, ms: Date.now() - at });
        this.log(`cycle ${cycle}: ${action} FAILED: ${message}`);
      } finally {
        this.setSwiftRates(NO_FAULTS);
      }
    }
  }

  setSwiftRates(rates: FaultRates): void {
    for (const proxy of Object.values(this.proxies)) proxy.setRates(rates);
  }

  private async runAction(cycle: number, action: ActionName, scheduled?: ScheduledCycle): Promise<{ outcome: CycleRecord['outcome']; detail: string }> {
    const strike = (choices: FaultChoice[]) => this.strike(cycle, choices, scheduled);
    switch (action) {
      case 'write':
        return this.write(this.poolVolume(scheduled));
      case 'snapshot':
        return this.snapshot(cycle, this.poolVolume(scheduled), strike);
      case 'group-snapshot':
        return this.groupSnapshot(cycle, strike);
      case 'restore':
        return this.restore(strike);
      case 'revert':
        return this.revert(strike);
      case 'copy':
        return this.copy(strike);
      case 'delete-snapshot':
        return this.deleteSnapshot(scheduled?.oldest === true);
      case 'replace-volume':
        return this.replaceVolume(this.poolVolume(scheduled), strike);
      case 'gc':
        return this.gc(strike);
    }
  }

  /**
   * Picks a fault among `choices` (the scheduled one, or at random with the run's fault chance) and starts it
   * aimed at its phase; the returned `end` tells it the operation is over and waits for the fault to finish.
   */
  private strike(cycle: number, choices: FaultChoice[], scheduled?: ScheduledCycle): { end: () => Promise<void> } {
    let chosen: FaultChoice | undefined;
    if (scheduled) chosen = choices.find((c) => faultName(c.target) === scheduled.fault);
    else if (choices.length > 0 && this.random.chance(this.settings.faultChance)) chosen = this.random.pick(choices);
    if (scheduled?.fault && !chosen) throw new Error(`the schedule asks for ${scheduled.fault}, which ${scheduled.action} cannot aim`);
    if (!chosen) return { end: async () => undefined };
    let running = true;
    // a fault that fails (a restart that does not come back, a process that outlives SIGKILL) is a finding, and the run goes on
    const done = this.faults
      .aimed(cycle, chosen.target, chosen.aimedAt, chosen.probe, () => running)
      .catch((error: Error) => {
        this.findings.push(`cycle ${cycle}: ${faultName(chosen.target)} failed: ${error.message}`);
        this.log(`cycle ${cycle}: ${faultName(chosen.target)} FAILED: ${error.message}`);
      });
    return {
      end: async () => {
        running = false;
        await done;
      },
    };
  }

  private poolVolume(scheduled?: ScheduledCycle): VolumeModel {
    const pool = [...this.model.volumes.values()];
    return scheduled?.volume !== undefined ? pool[scheduled.volume] : this.random.pick(pool);
  }

  // ----- the actions -----

  private async write(volume: VolumeModel): Promise<{ outcome: 'ok'; detail: string }> {
    const bytes = await this.writeInto(volume, this.random.int(1, 4));
    return { outcome: 'ok', detail: `${bytes} bytes into ${volume.id}` };
  }

  private async writeInto(volume: VolumeModel, writes: number): Promise<number> {
    let total = 0;
    for (let i = 0; i < writes; i++) {
      const length = this.random.int(1, 512) * 4096;
      const offset = this.random.int(0, (volume.content.length - length) / 512) * 512;
      const data = this.random.chance(0.15) ? Buffer.alloc(length) : this.random.bytes(length);
      await this.io.write(volume.path, offset, data, volume.content);
      total += length;
    }
    return total;
  }

  private snapshotProbes(snapshotIds: () => string[], workers: string[]): FaultChoice[] {
    const statusOf = async (): Promise<Json[]> =>
      Promise.all(snapshotIds().map(async (id) => (await this.island.request<Json>('GET', `/v1/snapshots/${id}`)).body));
    const inPhase =
      (phases: string[], extra: (s: Json) => boolean = () => true) =>
      async () => {
        const found = (await statusOf()).find((s) => phases.includes(String(s.status)) && extra(s));
        return found ? `snapshot ${found.id} ${found.status} (${found.blocksDone}/${found.blocksTotal} blocks)` : null;
      };
    // a copy counts no blocks until it is done: uploading is its phase
    const uploading = inPhase(['uploading'], (s) => s.copyOf !== null || Number(s.blocksDone) < Number(s.blocksTotal));
    return [
      { target: { kind: 'kill', process: 'agent' }, aimedAt: 'snapshot creating (point in time being taken)', probe: inPhase(['creating']) },
      ...workers.map((w): FaultChoice => ({ target: { kind: 'kill', process: w }, aimedAt: 'snapshot uploading', probe: uploading })),
      { target: { kind: 'kill', process: 'api' }, aimedAt: 'snapshot in flight', probe: inPhase(['pending', 'uploading', 'committing', 'sealing']) },
      { target: { kind: 'restart', service: 'rabbitmq' }, aimedAt: 'snapshot uploading', probe: uploading },
      { target: { kind: 'restart', service: 'postgres' }, aimedAt: 'snapshot uploading', probe: uploading },
    ];
  }

  private async snapshot(cycle: number, volume: VolumeModel, strike: (c: FaultChoice[]) => { end: () => Promise<void> }) {
    const content = Buffer.from(volume.content);
    const created = await this.api.must<Json>('POST', '/v1/snapshots', { volumeId: volume.id, name: `chaos-${cycle}` }, [202]);
    const id = String(created.id);
    const fault = strike(this.snapshotProbes(() => [id], ['worker-1', 'worker-2']));
    try {
      const ended = await this.snapshotEnds(id);
      this.model.addSnapshot({ id, volumeId: volume.id, region: 'RegionOne', content, ...ended });
      return ended.outcome === 'available'
        ? { outcome: 'ok' as const, detail: `snapshot ${id} available` }
        : { outcome: 'ended-with-reason' as const, detail: `snapshot ${id}: ${ended.reason}` };
    } finally {
      await fault.end();
    }
  }

  private async groupSnapshot(cycle: number, strike: (c: FaultChoice[]) => { end: () => Promise<void> }) {
    const volumes = [...this.model.volumes.values()].slice(0, 2);
    const contents = new Map(volumes.map((v) => [v.id, Buffer.from(v.content)]));
    const contentOf = (volumeId: string): Buffer => {
      const content = contents.get(volumeId);
      if (!content) throw new Error(`the group answered a snapshot of volume ${volumeId}, which it was not asked for`);
      return content;
    };
    const group = await this.api.must<{ snapshots: Json[] }>(
      'POST',
      '/v1/snapshots/groups',
      { volumeIds: volumes.map((v) => v.id), name: `chaos-${cycle}` },
      [202],
    );
    const ids = group.snapshots.map((s) => String(s.id));
    const fault = strike(this.snapshotProbes(() => ids, ['worker-1', 'worker-2']));
    try {
      const outcomes: string[] = [];
      for (const s of group.snapshots) {
        const id = String(s.id);
        const ended = await this.snapshotEnds(id);
        this.model.addSnapshot({ id, volumeId: String(s.volumeId), region: 'RegionOne', content: contentOf(String(s.volumeId)), ...ended });
        outcomes.push(ended.outcome === 'available' ? `${id} available` : `${id}: ${ended.reason}`);
      }
      const ok = outcomes.every((o) => o.endsWith('available'));
      return { outcome: ok ? ('ok' as const) : ('ended-with-reason' as const), detail: `group of ${ids.length}: ${outcomes.join('; ')}` };
    } finally {
      await fault.end();
    }
  }

  /** Waits for a snapshot to be available or failed; a failure must say why. */
  private async snapshotEnds(id: string): Promise<{ outcome: 'available' | 'failed'; reason?: string }> {
    const s = await this.api.until<Json>(
      `/v1/snapshots/${id}`,
      (b) => ['available', 'error', 'gone'].includes(String(b.status)),
      `snapshot ${id}`,
      OPERATION_ENDS_WITHIN_MS,
    );
    if (s.status === 'available') return { outcome: 'available' };
    if (s.status === 'gone') throw new Error(`snapshot ${id} vanished while it was being taken`);
    if (!s.statusReason) throw new Error(`snapshot ${id} failed without a reason`);
    return { outcome: 'failed', reason: String(s.statusReason) };
  }

  /** Waits until every host of the stack is online again (its agent's heartbeats reach the API). */
  async hostsOnline(): Promise<void> {
    await this.api.until<{ hosts: Json[] }>(
      '/v1/hosts',
      (b) => this.island.hosts.every((h) => (b.hosts ?? []).some((listed) => listed.name === h.name && listed.status === 'online')),
      'every host online',
      2 * 60_000,
    );
  }

  /** Attaches a volume and waits for the attach to end: the image path, or null when it ended with a reason. */
  private async attach(id: string, host: string): Promise<string | null> {
    let res = await this.api.request<Json>('POST', `/v1/volumes/${id}/attach`, { host });
    if (res.status === 409 && /is offline/.test(String(res.body.message))) {
      // its agent is still reconnecting after a fault (a broker restart, a kill): asked again once it is back, as a user would
      await this.hostsOnline();
      res = await this.api.request<Json>('POST', `/v1/volumes/${id}/attach`, { host });
    }
    if (res.status !== 202) throw new Error(`attach ${id} on ${host}: ${res.status} ${JSON.stringify(res.body)}`);
    const v = await this.api.until<Json>(`/v1/volumes/${id}`, (b) => b.status !== 'attaching', `attach ${id}`, OPERATION_ENDS_WITHIN_MS);
    if (v.status === 'in-use') return (v.connection as { path: string }).path;
    if (!v.statusReason) throw new Error(`attach of ${id} ended ${v.status} without a reason`);
    return null;
  }

  private restoreProbes(volumeId: () => string | undefined, workers: string[], agent: string): FaultChoice[] {
    const restoring = async () => {
      const id = volumeId();
      if (!id) return null;
      const ops = (await this.island.request<{ operations: Json[] }>('GET', '/v1/operations')).body.operations ?? [];
      const op = ops.find((o) => o.resourceId === id && o.kind === 'attach');
      return op ? `attach of ${id} at ${op.progress}%` : null;
    };
    return [
      ...workers.map((w): FaultChoice => ({ target: { kind: 'kill', process: w }, aimedAt: 'restore running', probe: restoring })),
      { target: { kind: 'kill', process: agent }, aimedAt: 'restore running', probe: restoring },
      { target: { kind: 'restart', service: 'postgres' }, aimedAt: 'restore running', probe: restoring },
    ];
  }

  /** A new volume from an available snapshot (in its region), attached and read back whole. */
  private async restore(strike: (c: FaultChoice[]) => { end: () => Promise<void> }) {
    const candidates = this.model.available();
    if (candidates.length === 0) return { outcome: 'skipped' as const, detail: 'no available snapshot yet' };
    const snapshot = this.random.pick(candidates);
    const two = snapshot.region === 'RegionTwo';
    let volumeId: string | undefined;
    const fault = strike(this.restoreProbes(() => volumeId, two ? ['worker-two'] : ['worker-1', 'worker-2'], two ? 'agent-two' : 'agent'));
    try {
      return await this.restoreAndCompare(snapshot, (id) => (volumeId = id));
    } finally {
      await fault.end();
    }
  }

  /** Restores `snapshot` into a new volume, compares its bytes with the model, deletes the volume. */
  async restoreAndCompare(snapshot: SnapshotModel, started: (volumeId: string) => void = () => undefined) {
    const volume = await this.api.must<Json>(
      'POST',
      '/v1/volumes',
      { sizeBytes: snapshot.content.length, snapshotId: snapshot.id, name: `restore-${snapshot.id}` },
      [201],
    );
    const id = String(volume.id);
    const host = snapshot.region === 'RegionTwo' ? this.hostTwo : this.island.host;
    try {
      const attach = this.attach(id, host);
      started(id);
      const path = await attach;
      if (!path) {
        const v = (await this.api.request<Json>('GET', `/v1/volumes/${id}`)).body;
        return { outcome: 'ended-with-reason' as const, detail: `restore of ${snapshot.id}: ${v.statusReason}` };
      }
      const bytes = await this.io.read(path);
      this.restoresChecked += 1;
      this.bytesCompared += bytes.length;
      if (!bytes.equals(snapshot.content))
        throw new Error(`LOST: snapshot ${snapshot.id} (${snapshot.region}) restored with different bytes (${firstDifference(bytes, snapshot.content)})`);
      return { outcome: 'ok' as const, detail: `snapshot ${snapshot.id} (${snapshot.region}) restored bit-exact` };
    } finally {
      await this.deleteVolume(id);
    }
  }

  readVolume(path: string): Promise<Buffer> {
    return this.io.read(path);
  }

  private async deleteVolume(id: string): Promise<void> {
    await this.api.request('POST', `/v1/volumes/${id}/detach`);
    await this.api.until<Json>(`/v1/volumes/${id}`, (b) => !['detaching', 'attaching'].includes(String(b.status)), `detach ${id}`, OPERATION_ENDS_WITHIN_MS);
    const res = await this.api.request<Json>('DELETE', `/v1/volumes/${id}`);
    if (res.status !== 202 && res.status !== 404) throw new Error(`delete volume ${id}: ${res.status} ${JSON.stringify(res.body)}`);
    const v = await this.api.until<Json>(
      `/v1/volumes/${id}`,
      (b) => ['gone', 'deleted', 'error'].includes(String(b.status)),
      `delete volume ${id}`,
      OPERATION_ENDS_WITHIN_MS,
    );
    if (v.status === 'error' && !v.statusReason) throw new Error(`delete of volume ${id} failed without a reason`);
  }

  /** Detach, revert to one of its snapshots, attach again: the guest sees the snapshot's bytes, or its own when the revert failed. */
  private async revert(strike: (c: FaultChoice[]) => { end: () => Promise<void> }) {
    const candidates = this.model.available((s) => this.model.volumes.has(s.volumeId) && s.region === 'RegionOne');
    if (candidates.length === 0) return { outcome: 'skipped' as const, detail: 'no available snapshot of a pool volume' };
    const snapshot = this.random.pick(candidates);
    const volume = this.model.volumes.get(snapshot.volumeId) as VolumeModel;
    await this.detach(volume.id);
    const reverting = this.volumeIn(volume.id, 'reverting', `volume ${volume.id} reverting to ${snapshot.id}`);
    const fault = strike([
      { target: { kind: 'kill', process: 'agent' }, aimedAt: 'revert running', probe: reverting },
      ...['worker-1', 'worker-2'].map((w): FaultChoice => ({ target: { kind: 'kill', process: w }, aimedAt: 'revert running', probe: reverting })),
      { target: { kind: 'restart', service: 'postgres' }, aimedAt: 'revert running', probe: reverting },
    ]);
    let reason: string | null = null;
    try {
      const res = await this.api.request<Json>('POST', `/v1/volumes/${volume.id}/revert`, { snapshotId: snapshot.id });
      if (res.status === 409) reason = `refused: ${JSON.stringify(res.body)}`;
      else if (res.status !== 200 && res.status !== 202) throw new Error(`revert ${volume.id}: ${res.status} ${JSON.stringify(res.body)}`);
      else {
        const v = await this.api.until<Json>(`/v1/volumes/${volume.id}`, (b) => b.status !== 'reverting', `revert ${volume.id}`, OPERATION_ENDS_WITHIN_MS);
        if (v.status !== 'available') throw new Error(`revert of ${volume.id} left it ${v.status}: ${v.statusReason}`);
        reason = v.statusReason ? String(v.statusReason) : null;
      }
    } finally {
      await fault.end();
    }
    const path = await this.reattach(volume);
    const bytes = await this.io.read(path);
    this.restoresChecked += 1;
    this.bytesCompared += bytes.length;
    const expected = reason ? volume.content : snapshot.content;
    if (!bytes.equals(expected)) {
      const other = bytes.equals(reason ? snapshot.content : volume.content);
      throw new Error(
        `LOST: after a revert that ${reason ? `failed (${reason})` : 'succeeded'}, volume ${volume.id} holds ${other ? 'the other' : 'unknown'} content (${firstDifference(bytes, expected)})`,
      );
    }
    if (!reason) snapshot.content.copy(volume.content);
    return reason
      ? { outcome: 'ended-with-reason' as const, detail: `revert to ${snapshot.id}: ${reason}; old content kept` }
      : { outcome: 'ok' as const, detail: `reverted ${volume.id} to ${snapshot.id}, bit-exact` };
  }

  /** Attaches a pool volume again (an attach may end with a reason under faults: it is asked again, up to three times). */
  private async reattach(volume: VolumeModel): Promise<string> {
    for (let attempt = 1; attempt <= 3; attempt++) {
      const path = await this.attach(volume.id, this.island.host);
      if (path) return (volume.path = path);
    }
    throw new Error(`volume ${volume.id} could not be attached again after three attempts`);
  }

  private async copy(strike: (c: FaultChoice[]) => { end: () => Promise<void> }) {
    const copied = new Set([...this.model.snapshots.values()].map((c) => c.copyOf));
    const candidates = this.model.available((s) => s.region === 'RegionOne' && !copied.has(s.id));
    if (candidates.length === 0) return { outcome: 'skipped' as const, detail: 'nothing to copy' };
    const source = this.random.pick(candidates);
    const copy = await this.api.must<Json>('POST', `/v1/snapshots/${source.id}/copy`, { region: 'RegionTwo' }, [200, 201, 202]);
    const id = String(copy.id);
    const fault = strike(this.snapshotProbes(() => [id], ['worker-two']));
    try {
      const ended = await this.snapshotEnds(id);
      this.model.addSnapshot({ id, volumeId: String(copy.volumeId), region: 'RegionTwo', copyOf: source.id, content: source.content, ...ended });
      return ended.outcome === 'available'
        ? { outcome: 'ok' as const, detail: `copy ${id} of ${source.id} available in RegionTwo` }
        : { outcome: 'ended-with-reason' as const, detail: `copy ${id}: ${ended.reason}` };
    } finally {
      await fault.end();
    }
  }

  /** Deletes an available snapshot (any one: in any order); it ends in the request's own transaction, so no fault aims at it. */
  private async deleteSnapshot(oldest: boolean) {
    const candidates = this.model.available();
    // keep a few: the final check restores what is left
    if (candidates.length < 3) return { outcome: 'skipped' as const, detail: 'too few snapshots to delete one' };
    const snapshot = oldest ? candidates[0] : this.random.pick(candidates);
    const res = await this.api.request<Json>('DELETE', `/v1/snapshots/${snapshot.id}`);
    if (res.status === 409) return { outcome: 'ended-with-reason' as const, detail: `refused: ${JSON.stringify(res.body)}` };
    if (res.status !== 202 && res.status !== 204) throw new Error(`delete snapshot ${snapshot.id}: ${res.status} ${JSON.stringify(res.body)}`);
    const s = await this.api.until<Json>(
      `/v1/snapshots/${snapshot.id}`,
      (b) => ['gone', 'deleted', 'error', 'available'].includes(String(b.status)),
      `delete ${snapshot.id}`,
      OPERATION_ENDS_WITHIN_MS,
    );
    if (s.status === 'gone' || s.status === 'deleted') {
      snapshot.outcome = 'deleted';
      return { outcome: 'ok' as const, detail: `snapshot ${snapshot.id} deleted` };
    }
    if (!s.statusReason) throw new Error(`delete of snapshot ${snapshot.id} ended ${s.status} without a reason`);
    if (s.status === 'error') snapshot.outcome = 'failed';
    return { outcome: 'ended-with-reason' as const, detail: `delete of ${snapshot.id}: ${s.statusReason}` };
  }

  private async gc(strike: (c: FaultChoice[]) => { end: () => Promise<void> }) {
    const region = this.random.chance(0.75) ? 'RegionOne' : 'RegionTwo';
    let operationId: string | undefined;
    const marked = async () => {
      if (!operationId) return null;
      const op = (await this.island.request<Json>('GET', `/v1/operations/${operationId}`, undefined, this.island.adminToken)).body;
      if (op.status !== 'running') return null;
      const n = await this.countMarkedBlocks(region);
      return n > 0 ? `GC run ${operationId} with ${n} block(s) marked for deletion` : null;
    };
    const fault = strike([
      { target: { kind: 'kill', process: 'gc' }, aimedAt: 'GC between marking and deleting', probe: marked },
      { target: { kind: 'restart', service: 'postgres' }, aimedAt: 'GC between marking and deleting', probe: marked },
    ]);
    try {
      const op = await this.api.must<Json>('POST', '/v1/gc/runs', { region, graceSeconds: 0 }, [202], this.island.adminToken);
      operationId = String(op.id);
      const ended = await this.api.until<Json>(
        `/v1/operations/${operationId}`,
        (b) => b.status !== 'running',
        `GC run ${operationId}`,
        OPERATION_ENDS_WITHIN_MS,
        this.island.adminToken,
      );
      if (ended.status === 'succeeded') return { outcome: 'ok' as const, detail: `GC in ${region}: ${JSON.stringify(ended.result)}` };
      if (!ended.error) throw new Error(`GC run ${operationId} failed without a reason`);
      return { outcome: 'ended-with-reason' as const, detail: `GC in ${region}: ${ended.error}` };
    } finally {
      await fault.end();
    }
  }

  async countMarkedBlocks(region: string): Promise<number> {
    const db = new Client({ connectionString: this.island.databaseUrl });
    await db.connect();
    try {
      const { rows } = await db.query<{ n: string }>(`SELECT count(*) AS n FROM block WHERE region = $1 AND state = 'deleting'`, [region]);
      return Number(rows[0].n);
    } finally {
      await db.end();
    }
  }
}

function firstDifference(a: Buffer, b: Buffer): string {
  if (a.length !== b.length) return `${a.length} bytes instead of ${b.length}`;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return `first difference at byte ${i}, block ${Math.floor(i / MIB)}`;
  return 'equal';
}
