import { randomBytes } from 'node:crypto';
import { guestIo, IslandStack, pollUntil, startIsland } from '@island/stack';
import { Benchmark, BenchmarkRow, mibPerSecond } from '../benchmark';
import { curlRegionCopy } from '../raw-curl';
import { timedSnapshot } from '../stack-timing';

const MIB = 1 << 20;
const SIZE = 1024 * MIB;
/** Blocks the incremental snapshot changes, spread over the volume (4 KiB written in each). */
const CHANGED_BLOCKS = 40;
type Json = Record<string, unknown>;

/**
 * Copying snapshots between two regions, each its own local Swift (RegionOne :8080, RegionTwo :8090):
 * a full copy against raw keep-alive GETs from RegionOne plus PUTs to RegionTwo of the same objects, and
 * an incremental copy (its predecessor already copied) against the blocks that snapshot changed.
 */
export const regionCopy: Benchmark = {
  name: 'region-copy',
  title: 'Snapshot copy between regions vs raw GET + PUT of the same objects; bytes an incremental copy moves',
  async run(ctx) {
    const island = await startIsland({ workers: 2, twoRegions: true });
    const rows: BenchmarkRow[] = [];
    try {
      const io = guestIo(island);
      const volumeId = await io.createVolume(SIZE);
      const path = await io.attach(volumeId);
      for (let at = 0; at < SIZE; at += 64 * MIB) await io.write(path, at, randomBytes(64 * MIB));
      const first = await timedSnapshot(island, volumeId);
      ctx.log(`first snapshot in RegionOne: ${first.ms.toFixed(0)} ms`);

      const full = await timedCopy(island, first.id);
      const blockNames = [...(await island.swiftObjects('blocks/', 'RegionOne')).keys()];
      const raw = await curlRegionCopy(island, ctx.workDir, blockNames);
      ctx.log(`raw: GET ${raw.get.ms.toFixed(0)} ms + PUT ${raw.put.ms.toFixed(0)} ms for ${blockNames.length} objects`);
      const rawMs = raw.get.ms + raw.put.ms;
      const islandRate = mibPerSecond(full.bytesCopied, full.ms);
      const rawRate = mibPerSecond(full.bytesCopied, rawMs);
      rows.push({
        metric: `full copy RegionOne → RegionTwo, ${SIZE / MIB} MiB incompressible (${full.blocksCopied} objects)`,
        island: `${islandRate.toFixed(0)} MiB/s`,
        baseline: `raw keep-alive GET + PUT (curl ×8 each way) ${rawRate.toFixed(0)} MiB/s`,
        ratio: islandRate / rawRate,
        goal: '≥ 0.8×',
        pass: islandRate / rawRate >= 0.8,
      });

      for (let k = 0; k < CHANGED_BLOCKS; k++) {
        const block = Math.floor((k * SIZE) / MIB / CHANGED_BLOCKS);
        await io.write(path, block * MIB + 8192, randomBytes(4096));
      }
      const second = await timedSnapshot(island, volumeId);
      const changedBytes = Number(second.snap.bytesUploaded);
      const incremental = await timedCopy(island, second.id);
      const moved = incremental.bytesCopied + incremental.manifestBytes;
      rows.push({
        metric: `incremental copy, ${CHANGED_BLOCKS} changed blocks, predecessor already in RegionTwo`,
        island: `${(moved / MIB).toFixed(2)} MiB moved (${incremental.blocksCopied} blocks + manifest) in ${incremental.ms.toFixed(0)} ms`,
        baseline: `changed blocks ${(changedBytes / MIB).toFixed(2)} MiB (${String(second.snap.blocksUploaded)} blocks)`,
        ratio: moved / changedBytes,
        goal: '≤ 1.05×',
        pass: moved / changedBytes <= 1.05,
      });
    } finally {
      await island.stop();
    }
    return {
      rows,
      notes: [
        'One stack with a host in each region; both Swifts run on this machine, so the copy and the baseline share its 2 cores with both Swifts.',
        'island: POST /v1/snapshots/{id}/copy until the copy is available (read the manifest, claim, GET from RegionOne, PUT to RegionTwo with the MD5 it arrived with, commit, write the manifest). Baseline: 8 curl processes GET every block object to /dev/shm, then 8 PUT them to a container in RegionTwo; its time is the two phases added.',
        'Incremental: "moved" counts the block objects PUT to RegionTwo plus the copy\'s manifest written there; "changed blocks" is what the second snapshot uploaded in RegionOne.',
      ],
    };
  },
};

async function timedCopy(island: IslandStack, snapshotId: string): Promise<{ ms: number; bytesCopied: number; blocksCopied: number; manifestBytes: number }> {
  const started = performance.now();
  const created = await island.request<Json>('POST', `/v1/snapshots/${snapshotId}/copy`, { region: 'RegionTwo' });
  if (created.status !== 202) throw new Error(`copy of ${snapshotId}: ${created.status} ${JSON.stringify(created.body)}`);
  const copy = await pollUntil(island, `/v1/snapshots/${String(created.body.id)}`, (c) => c.status === 'available');
  const ms = performance.now() - started;
  const manifests = await island.swiftObjects(`manifests/${String(copy.volumeId)}/`, 'RegionTwo');
  const manifestBytes = [...manifests].find(([name]) => name.endsWith(String(copy.id)))?.[1] ?? 0;
  return { ms, bytesCopied: Number(copy.bytesUploaded), blocksCopied: Number(copy.blocksUploaded), manifestBytes };
}
