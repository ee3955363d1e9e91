import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import { DataSource, EntityManager } from 'typeorm';
import {
  CatalogRebuildRepository,
  commitSnapshotVersions,
  forgetDeletedBlocks,
  GcLease,
  LedgerRepository,
  LedgerSnapshot,
  markBlocksForDeletion,
  MAX_STAGED_BATCH_ENTRIES,
  RebuildScratch,
  stageSnapshotChanges,
} from '@island/catalog';
import { CatalogShape } from './shape';
import { SCALE_REGION, synthetic } from './synthetic-fill';
import { WalMeter } from './wal-meter';

/**
 * The measured operations: claim (workers' upload bookkeeping: claim, then mark present), commit, delete, gc (one
 * pass over as many unreferenced blocks: mark in batches of GC_BATCH, forget) and rebuild.
 */
export const OPERATIONS = ['claim', 'commit', 'delete', 'gc', 'rebuild'] as const;
export type Operation = (typeof OPERATIONS)[number];

/** Per block of each sample: milliseconds, and bytes of WAL written for the catalog. */
export type Samples = Record<Operation, { ms: number[]; walBytes: number[] }>;

export function noSamples(): Samples {
  const none = () => ({ ms: [], walBytes: [] });
  return { claim: none(), commit: none(), delete: none(), gc: none(), rebuild: none() };
}

/** As the gc-worker marks, deletes and forgets. */
const GC_BATCH = 1000;
const STORED_SIZE = 1 << 19;

interface ScaleVolume {
  id: string;
  projectId: string;
}

/**
 * One round of ledger work on a volume of the synthetic catalog, through the catalog's own code (LedgerRepository,
 * the GC and rebuild functions): snapshot A rewrites `changed` random blocks of the volume (claim, mark present,
 * commit), snapshot B rewrites the same blocks, A is deleted (its versions are the only ones it alone sees), one GC
 * pass marks and forgets as many unreferenced blocks, and a rebuild restores a new volume's snapshot of as many
 * blocks. The SQL here only does the API's bookkeeping around them (snapshot rows and statuses), untimed.
 */
export async function ledgerRound(db: DataSource, wal: WalMeter, shape: CatalogShape, changed: number): Promise<Samples> {
  const samples = noSamples();
  const timed = <T>(operation: Operation, blocks: number, work: () => Promise<T>) => measured(samples[operation], wal, blocks, work);
  const volume = await pickVolume(db, shape);
  const indexes = distinctIndexes(changed, shape.baseBlocks);
  const first = await snapshotWithChange(db, volume, indexes, timed);
  await snapshotWithChange(db, volume, indexes, timed);

  await setStatus(db, first.id, 'deleting');
  const removed = await timed('delete', changed, () => db.transaction((m) => new LedgerRepository(m).removeSnapshot(first)));
  if (removed.versionsRemoved !== changed) throw new Error(`deleting snapshot ${first.id} removed ${removed.versionsRemoved} versions, not ${changed}`);
  await setStatus(db, first.id, 'deleted');

  await timed('gc', changed, () => gcPass(db, changed));
  await timed('rebuild', changed, () => db.transaction((m) => rebuildVolume(m, shape, changed)));
  return samples;
}

type Timed = <T>(operation: Operation, blocks: number, work: () => Promise<T>) => Promise<T>;

async function measured<T>(into: Samples[Operation], wal: WalMeter, blocks: number, work: () => Promise<T>): Promise<T> {
  const from = await wal.position();
  const started = performance.now();
  const result = await work();
  into.ms.push((performance.now() - started) / blocks);
  into.walBytes.push((await wal.bytesSince(from)) / blocks);
  return result;
}

async function pickVolume(db: DataSource, shape: CatalogShape): Promise<ScaleVolume> {
  const [row] = await db.query(`SELECT id, project_id FROM volume WHERE id = ${synthetic.volumeId('$1::int')}`, [randomInt(shape.volumes)]);
  return { id: row.id, projectId: row.project_id };
}

function distinctIndexes(count: number, below: number): number[] {
  const picked = new Set<number>();
  while (picked.size < count) picked.add(randomInt(below));
  return [...picked];
}

/** A new snapshot of the volume whose `indexes` got new content: uploaded (claims), staged and committed. */
async function snapshotWithChange(db: DataSource, volume: ScaleVolume, indexes: number[], timed: Timed): Promise<LedgerSnapshot> {
  const snapshot = await newUploadingSnapshot(db, volume);
  const hashes = indexes.map(() => randomBytes(32));
  await timed('claim', indexes.length, async () => {
    await db.transaction((m) =>
      new LedgerRepository(m).claim(
        snapshot.id,
        SCALE_REGION,
        hashes.map((hash) => ({ hash, size: 1 << 20 })),
      ),
    );
    await db.transaction((m) =>
      new LedgerRepository(m).markPresent(
        SCALE_REGION,
        hashes.map((hash) => ({ hash, storedSize: STORED_SIZE })),
      ),
    );
  });
  await db.transaction(async (m) => {
    // as uploads stage them: a batch per part
    for (let at = 0, part = 0; at < indexes.length; at += MAX_STAGED_BATCH_ENTRIES, part++) {
      await stageSnapshotChanges(m, snapshot.id, part, indexes.slice(at, at + MAX_STAGED_BATCH_ENTRIES), hashes.slice(at, at + MAX_STAGED_BATCH_ENTRIES));
    }
    await setStatus(m, snapshot.id, 'committing');
  });
  await timed('commit', indexes.length, () => db.transaction((m) => new LedgerRepository(m).commit({ ...snapshot, copyOf: null })));
  await setStatus(db, snapshot.id, 'available');
  return snapshot;
}

async function newUploadingSnapshot(db: DataSource, volume: ScaleVolume): Promise<LedgerSnapshot> {
  const id = randomUUID();
  const [row] = await db.query(
    `WITH taken AS (UPDATE volume SET next_seq = next_seq + 1 WHERE id = $2 RETURNING next_seq - 1 AS seq, size_bytes, block_size)
     INSERT INTO snapshot (id, volume_id, project_id, region, seq, status, size_bytes, block_size)
     SELECT $1, $2, $3, $4, seq, 'uploading', size_bytes, block_size FROM taken RETURNING seq`,
    [id, volume.id, volume.projectId, SCALE_REGION],
  );
  return { id, volumeId: volume.id, region: SCALE_REGION, seq: row.seq };
}

async function setStatus(m: DataSource | EntityManager, snapshotId: string, status: string): Promise<void> {
  await m.query(`UPDATE snapshot SET status = $2, updated_at = now() WHERE id = $1`, [snapshotId, status]);
}

/** GC's catalog work for `blocks` blocks (the Swift deletes between mark and forget are left out). */
async function gcPass(db: DataSource, blocks: number): Promise<void> {
  const lease = await GcLease.open(db, SCALE_REGION);
  try {
    for (let done = 0; done < blocks;) {
      const batch = await db.transaction((m) => markBlocksForDeletion(m, SCALE_REGION, 0, Math.min(GC_BATCH, blocks - done), lease.token));
      if (batch.length === 0) throw new Error(`GC found only ${done} collectable blocks, not ${blocks}`);
      await db.transaction((m) =>
        forgetDeletedBlocks(
          m,
          SCALE_REGION,
          batch.map((b) => b.hash),
          lease.token,
        ),
      );
      done += batch.length;
    }
  } finally {
    await lease.close();
  }
}

/**
 * A rebuild's catalog work for one volume with one snapshot of `blocks` blocks, as the gc-worker does it: Swift's
 * listing of those blocks and the manifest's map into its scratch tables, then the volume, the snapshot, the missing
 * blocks counted, the block rows, the staged map and the commit.
 */
async function rebuildVolume(m: EntityManager, shape: CatalogShape, blocks: number): Promise<void> {
  const catalog = new CatalogRebuildRepository(m);
  const scratch = new RebuildScratch(m);
  const volumeId = randomUUID();
  const snapshotId = randomUUID();
  const projectId = `scale-project-${randomInt(shape.projects)}`;
  const createdAt = new Date().toISOString();
  const geometry = { blockSize: 1 << 20, volumeSize: 2 * shape.baseBlocks * (1 << 20) };
  const common = { projectId, region: SCALE_REGION, sizeBytes: geometry.volumeSize, blockSize: geometry.blockSize, createdAt };
  const hashes = Array.from({ length: blocks }, () => randomBytes(32));
  await scratch.create(); // in the transaction: gone with it if it fails
  await scratch.addListedBlocks(hashes.map((hash) => ({ hash, storedSize: STORED_SIZE })));
  await scratch.listingLoaded();
  await scratch.startVolume();
  await scratch.startMap();
  await scratch.addToMap(hashes.map((hash, index) => ({ index, hash })));
  await scratch.mapLoaded();
  await catalog.restoreVolume({ ...common, id: volumeId, name: 'rebuilt', replicaOf: null, nextSeq: 2 });
  const missingBlocks = await scratch.missingBlocks();
  if (missingBlocks !== 0) throw new Error(`rebuild bench: ${missingBlocks} block(s) missing from its own listing`);
  await catalog.restoreSnapshot({
    ...common,
    id: snapshotId,
    volumeId,
    seq: 1,
    name: 'rebuilt',
    manifestObject: `manifests/${volumeId}/1-${snapshotId}`,
    manifestSealed: true,
    copyOf: null,
    missingBlocks,
  });
  await scratch.restorePresentBlocks(SCALE_REGION, projectId, geometry);
  await scratch.stageMap(snapshotId, 'change');
  await commitSnapshotVersions(m, { id: snapshotId, volumeId, region: SCALE_REGION, seq: 1 });
  await scratch.drop();
}
