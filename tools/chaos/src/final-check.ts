import { ChaosApi } from './api-client';
import { ChaosRun } from './chaos-run';

type Json = Record<string, unknown>;

const SETTLE_MS = 10 * 60_000;
const TRANSITIONAL_VOLUME = ['attaching', 'detaching', 'reverting', 'extending', 'deleting', 'creating'];
const TRANSITIONAL_SNAPSHOT = ['creating', 'pending', 'uploading', 'committing', 'sealing', 'deleting'];

export interface FinalFigures {
  snapshotsAvailable: number;
  snapshotsRestored: number;
  poolVolumesChecked: number;
  fsck: Record<string, Json>;
  gc: Record<string, Json>;
}

/**
 * After the cycles, with every fault off: nothing is left running, every snapshot that reached `available` is
 * still there and restores bit-exact against the model, the pool volumes hold what the guest wrote, GC
 * collects, and a deep fsck of each region finds nothing — no orphan either.
 */
export async function finalCheck(run: ChaosRun, log: (line: string) => void): Promise<FinalFigures> {
  const { island } = run;
  const { api } = run;
  const admin = island.adminToken;
  const finding = (text: string) => {
    run.findings.push(`final check: ${text}`);
    log(`FINDING: ${text}`);
  };

  log('final check: waiting for every host to be online and every operation to end');
  await run.hostsOnline().catch((error: Error) => finding(`a host is still offline: ${error.message}`));
  const settled = await api
    .until<{ operations: Json[] }>('/v1/operations', (b) => (b.operations ?? []).length === 0, 'running operations', SETTLE_MS, admin)
    .catch((error: Error) => error);
  if (settled instanceof Error) finding(`operations still running after ${SETTLE_MS / 60_000} min: ${settled.message}`);

  const volumes = await api.all('/v1/volumes', 'volumes');
  for (const v of volumes.filter((v) => TRANSITIONAL_VOLUME.includes(String(v.status)))) finding(`volume ${v.id} left ${v.status}`);
  const snapshots = await api.all('/v1/snapshots', 'snapshots');
  for (const s of snapshots.filter((s) => TRANSITIONAL_SNAPSHOT.includes(String(s.status)))) finding(`snapshot ${s.id} left ${s.status}`);

  const listed = new Map(snapshots.map((s) => [String(s.id), s]));
  for (const s of run.model.snapshots.values()) {
    const now = listed.get(s.id);
    const status = now ? String(now.status) : 'gone';
    if (s.outcome === 'available' && status !== 'available') finding(`LOST: snapshot ${s.id} was available and is now ${status} ${now?.statusReason ?? ''}`);
    if (s.outcome === 'failed' && status === 'available') finding(`snapshot ${s.id} failed (${s.reason}) but is available now`);
    if (s.outcome === 'deleted' && status !== 'gone' && status !== 'deleted') finding(`snapshot ${s.id} was deleted and is ${status} again`);
  }

  const available = run.model.available();
  log(`final check: restoring ${available.length} available snapshots`);
  let restored = 0;
  for (const s of available) {
    try {
      const result = await run.restoreAndCompare(s);
      if (result.outcome === 'ok') restored += 1;
      else finding(`snapshot ${s.id} could not be restored with no fault injected: ${result.detail}`);
    } catch (error) {
      finding(error instanceof Error ? error.message : String(error));
    }
  }

  for (const v of run.model.volumes.values()) {
    const view = (await api.request<Json>('GET', `/v1/volumes/${v.id}`)).body;
    if (view.status !== 'in-use') {
      finding(`pool volume ${v.id} is ${view.status} (${view.statusReason}), not attached`);
      continue;
    }
    const bytes = await run.readVolume((view.connection as { path: string }).path);
    if (!bytes.equals(v.content)) finding(`LOST: pool volume ${v.id} does not hold what the guest wrote`);
  }

  const gc: Record<string, Json> = {};
  const fsck: Record<string, Json> = {};
  for (const region of ['RegionOne', 'RegionTwo']) {
    gc[region] = await adminOperation(api, admin, '/v1/gc/runs', { region, graceSeconds: 0 });
    if (gc[region].status !== 'succeeded') finding(`GC in ${region} ${gc[region].status}: ${gc[region].error}`);
    fsck[region] = await adminOperation(api, admin, '/v1/fsck', { region, deep: true });
    const report = (fsck[region].result ?? {}) as Json;
    const problems = (report.problemCounts ?? {}) as Record<string, number>;
    if (fsck[region].status !== 'succeeded' || report.ok !== true || Object.keys(problems).length > 0) {
      finding(`fsck --deep of ${region}: ${fsck[region].status} ${JSON.stringify(problems)} ${JSON.stringify(report.problems ?? fsck[region].error)}`);
    }
  }

  for (const answer of api.unexpected) finding(`the API answered ${answer}`);
  const left = (await api.must<{ operations: Json[] }>('GET', '/v1/operations', undefined, [200], admin)).operations;
  for (const op of left) finding(`operation ${op.id} (${op.kind} of ${op.resourceId}) still running at the end`);
  return { snapshotsAvailable: available.length, snapshotsRestored: restored, poolVolumesChecked: run.model.volumes.size, fsck, gc };
}

async function adminOperation(api: ChaosApi, token: string, path: string, body: object): Promise<Json> {
  const started = await api.must<Json>('POST', path, body, [202], token);
  return api.until<Json>(`/v1/operations/${started.id}`, (b) => b.status !== 'running', `${path} ${started.id}`, SETTLE_MS, token);
}
