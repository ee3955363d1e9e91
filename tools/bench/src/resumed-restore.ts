import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { IslandStack, pollUntil } from '@island/stack';
import { peakRss } from './process-memory';
import { counterTotal } from './control-plane/island-metrics';

type Json = Record<string, unknown>;

/** How long the restore runs from its first progress record before its worker is killed. */
const FIRST_ATTEMPT_MS = 20_000;

interface ProgressRecord {
  entries: number;
  sizeBytes: number;
  written: [number, number][];
}

/**
 * A restore of `snapshotId` into a new volume attached on the stack's host (worker-1), run as a crash would leave it
 * near its end: the restore streams the manifest and writes for FIRST_ATTEMPT_MS after its first progress record, its
 * worker is killed (SIGKILL), and the partial image and record are then made what a restore that had written all but
 * its last `left` blocks would have left — the record claims every other entry, and the image is one of the volume's
 * size allocated in full (qemu-img's preallocation=metadata: every L2 table and refcount written, the file sparse).
 * The revived worker resumes it: checks the partial image (every cluster's references counted), streams the manifest
 * past what the record claims, writes the last blocks, takes the point in time (every cluster's refcount raised) and
 * renames the image into place. The volume's bytes are then not the snapshot's (the claimed blocks are zeros): it is
 * detached and deleted. Returns what happened and the killed worker's peak resident set.
 */
export async function resumedRestore(
  island: IslandStack,
  snapshotId: string,
  sizeBytes: number,
  left: number,
): Promise<{ detail: string; killedWorkerPeak: number }> {
  const clone = String((await island.request('POST', '/v1/volumes', { sizeBytes, snapshotId })).body.id);
  const attach = await island.request('POST', `/v1/volumes/${clone}/attach`, { host: island.host });
  if (attach.status !== 202) throw new Error(`attach ${clone}: ${attach.status} ${JSON.stringify(attach.body)}`);
  const partial = join(island.dataDir, 'volumes', `${clone}.qcow2.restoring`);
  const recordPath = `${partial}.progress`;
  const recorded = (): ProgressRecord | undefined => (existsSync(recordPath) ? (JSON.parse(readFileSync(recordPath, 'utf8')) as ProgressRecord) : undefined);
  const count = (r: ProgressRecord | undefined) => (r?.written ?? []).reduce((n, [start, end]) => n + end - start, 0);
  for (const started = performance.now(); count(recorded()) === 0; await sleep(200)) {
    if (performance.now() - started > 1_200_000) throw new Error(`the restore of ${clone} recorded no progress in 20 minutes`);
  }
  await sleep(FIRST_ATTEMPT_MS);
  const killedWorkerPeak = peakRss(island.pid('worker-1'));
  await island.crash('worker-1');
  const record = recorded();
  if (!record) throw new Error(`${recordPath} is gone after the worker was killed`);
  const writtenBefore = count(record);
  if (record.entries <= left) throw new Error(`the snapshot has ${record.entries} blocks, not more than the ${left} to leave`);
  writeFileSync(recordPath, JSON.stringify({ ...record, written: [[0, record.entries - left]] }));
  rmSync(partial);
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', 'preallocation=metadata', partial, String(record.sizeBytes)]);

  const resumedAt = performance.now();
  await island.revive('worker-1');
  await pollUntil<Json>(island, `/v1/volumes/${clone}`, (v) => v.status === 'in-use', { timeoutMs: 3_600_000, what: `the resumed restore of ${clone}` });
  const resumeSeconds = (performance.now() - resumedAt) / 1000;
  const port = island.metricsPort('worker-1');
  const metric = (how: string) => (port === undefined ? NaN : counterTotal([port], 'island_worker_restore_blocks_total', `how="${how}"`));
  const [resumed, fetched] = [await metric('resumed'), await metric('fetched')];
  await island.request('POST', `/v1/volumes/${clone}/detach`);
  await pollUntil<Json>(island, `/v1/volumes/${clone}`, (v) => v.status === 'available', { what: `detach of ${clone}` });
  await island.request('DELETE', `/v1/volumes/${clone}`);
  return {
    detail:
      `the first attempt wrote ${writtenBefore} blocks (recorded) in the ${FIRST_ATTEMPT_MS / 1000} s after its first record before its worker was killed; ` +
      `resumed with ${left} of ${record.entries} blocks left, in use ${resumeSeconds.toFixed(0)} s after the worker was revived ` +
      `(its metrics: ${resumed} blocks resumed, ${fetched} fetched); the killed worker's peak ${(killedWorkerPeak / 2 ** 20).toFixed(0)} MiB`,
    killedWorkerPeak,
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
