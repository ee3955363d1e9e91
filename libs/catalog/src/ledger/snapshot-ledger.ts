import { EntityManager } from 'typeorm';
import { LEDGER_STATUSES } from '../entities/snapshot.entity';
import { applyDeltaRows } from './block-references';
import { LedgerError } from './ledger-errors';
import { dropStagedChanges, stagedChanges } from './snapshot-changes';
import { changedRowCount, preparedRows, sqlRows } from './sql-rows';

/**
 * The reference ledger of block versions. A version row says: block `hash` is the content of
 * `block_index` of a volume for sequence numbers [first_seq, last_seq) (last_seq NULL: still the head).
 * Every row that exists is live — seen by the head or by a snapshot in the ledger — and holds exactly one
 * reference on its block; a version no one can see any more is deleted at once and its reference dropped.
 * Every operation here locks the volume row first and touches only versions that changed around the
 * sequence numbers involved, never the whole volume.
 */

export interface LedgerSnapshot {
  id: string;
  volumeId: string;
  region: string;
  seq: number;
}

export interface LedgerResult {
  versionsAdded: number;
  versionsRemoved: number;
}

async function lockVolume(m: EntityManager, volumeId: string): Promise<{ head_seq: number }> {
  const [row] = await preparedRows<{ head_seq: number }>(m, 'island_lock_volume_v1', `SELECT head_seq FROM volume WHERE id = $1 FOR UPDATE`, [volumeId]);
  if (!row) throw new LedgerError(`volume ${volumeId} does not exist`);
  return row;
}

/** The sequence number of the volume's latest ledger snapshot before `seq` (-1 when none). */
async function previousLedgerSeq(m: EntityManager, volumeId: string, seq: number, exceptId?: string): Promise<number> {
  const [row] = await preparedRows<{ seq: number | null }>(
    m,
    'island_previous_ledger_seq_v1',
    `SELECT max(seq) AS seq FROM snapshot
      WHERE volume_id = $1 AND seq < $2 AND status = ANY($3) AND ($4::uuid IS NULL OR id <> $4)`,
    [volumeId, seq, LEDGER_STATUSES, exceptId ?? null],
  );
  return row?.seq ?? -1;
}

/**
 * Commits a snapshot's staged changes (snapshot_change_batch) as its block versions at its sequence number,
 * turns its upload claims into references, and makes it the volume's head. The blocks it references must
 * be present in Swift: an upload claim kept them from GC since they were checked.
 */
export async function commitSnapshotVersions(m: EntityManager, s: LedgerSnapshot): Promise<LedgerResult> {
  const volume = await lockVolume(m, s.volumeId);
  if (s.seq <= volume.head_seq) {
    throw new LedgerError(`snapshot ${s.id} (seq ${s.seq}) is not newer than the volume's head (seq ${volume.head_seq})`);
  }
  // the heads the staged blocks replace end at seq. Joined to the staged rows: each finds its head by index once
  // block_version has statistics; before, the planner hashes the volume's heads (linear in the volume: 5.5 ms for 8,192)
  await preparedRows(
    m,
    'island_end_replaced_heads_v1',
    `UPDATE block_version v SET last_seq = $2 FROM ${stagedChanges('$3')} c
      WHERE v.volume_id = $1 AND v.last_seq IS NULL AND v.block_index = c.block_index AND (c.hash IS NULL OR c.hash <> v.hash)`,
    [s.volumeId, s.seq, s.id],
  );
  // a staged block whose head was not ended above (the same content) keeps it: the head index itself refuses the new
  // version (ON CONFLICT), whatever plan the statement gets. Asked as NOT EXISTS, the planner took a volume whose versions
  // were not analyzed yet for one row and compared every staged block with every head (47 ms for 82 of 8,192 heads)
  const [added] = await preparedRows<{ versions: number }>(
    m,
    'island_add_staged_versions_v2',
    `WITH added AS (
       INSERT INTO block_version (volume_id, block_index, hash, first_seq)
       SELECT $1, c.block_index, c.hash, $2 FROM ${stagedChanges('$3')} c
        WHERE c.hash IS NOT NULL
       ON CONFLICT (volume_id, block_index) WHERE last_seq IS NULL DO NOTHING
       RETURNING 1)
     SELECT count(*)::int AS versions FROM added`,
    [s.volumeId, s.seq, s.id],
  );
  await preparedRows(m, 'island_advance_head_v1', `UPDATE volume SET head_seq = $2, head_snapshot_id = $3, updated_at = now() WHERE id = $1`, [
    s.volumeId,
    s.seq,
    s.id,
  ]);
  // ended heads no ledger snapshot can see (introduced after the previous one) go, with their references; seq is new to
  // the volume, so the rows ended at it and those added at it are exactly this commit's
  const previous = await previousLedgerSeq(m, s.volumeId, s.seq);
  const removed = await settleCommit(m, s, previous);
  return { versionsAdded: added.versions, versionsRemoved: removed };
}

/** Heads ended at seq $2 of volume $1 that no ledger snapshot sees (introduced after the previous one's seq, `previous`). */
const deadHeads = (previous: string) => `FROM block_version WHERE volume_id = $1 AND last_seq = $2 AND first_seq > ${previous}`;

/**
 * The end of every commit, in SQL (applyDeltaRows): the versions added at the snapshot's sequence number gain their
 * references, each block checked present as its row is locked; its claims end; with `previous` (a commit, not a copy),
 * the heads it ended that no ledger snapshot sees — introduced after `previous` — lose theirs and go. The staged changes
 * are done with. Returns the versions removed.
 */
async function settleCommit(m: EntityManager, s: LedgerSnapshot, previous?: number): Promise<number> {
  const deltas = [
    `SELECT hash, 1 AS d, 0 AS p, true AS must FROM block_version WHERE volume_id = $1 AND first_seq = $2`,
    `SELECT hash, 0 AS d, -1 AS p, false AS must FROM block_claim WHERE snapshot_id = $3`,
  ];
  if (previous !== undefined) deltas.push(`SELECT hash, -1 AS d, 0 AS p, false AS must ${deadHeads('$4')}`);
  await applyDeltaRows(m, s.region, deltas.join(' UNION ALL '), [s.volumeId, s.seq, s.id, ...(previous === undefined ? [] : [previous])]);
  const removed = previous === undefined ? 0 : await changedRowCount(m, `DELETE ${deadHeads('$3')}`, [s.volumeId, s.seq, previous]);
  await preparedRows(m, 'island_settle_claims_v2', `DELETE FROM block_claim WHERE snapshot_id = $1`, [s.id]);
  await dropStagedChanges(m, s.id);
  return removed;
}

/**
 * Commits a region copy: the staged block map (snapshot_change_batch) becomes versions of the replica volume
 * that only the copy's sequence number sees ([seq, seq + 1)), so copies enter and leave a replica in any
 * order and removeSnapshotVersions drops exactly a copy's own rows. Its claims turn into references; the
 * replica's head does not move (a replica has none). A copy's rows are as many as its non-hole blocks.
 */
export async function commitCopyVersions(m: EntityManager, s: LedgerSnapshot): Promise<LedgerResult> {
  await lockVolume(m, s.volumeId);
  const added = await changedRowCount(
    m,
    `INSERT INTO block_version (volume_id, block_index, hash, first_seq, last_seq)
     SELECT $1, c.block_index, c.hash, $2, $2 + 1 FROM ${stagedChanges('$3')} c
      WHERE c.hash IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM block_version v WHERE v.volume_id = $1 AND v.first_seq = $2)`,
    [s.volumeId, s.seq, s.id],
  );
  await settleCommit(m, s);
  return { versionsAdded: added, versionsRemoved: 0 };
}

/**
 * Removes a ledger snapshot: the versions only it could see — introduced after the previous ledger
 * snapshot and ended before the next one — are deleted and lose their references.
 */
export async function removeSnapshotVersions(m: EntityManager, s: LedgerSnapshot): Promise<LedgerResult> {
  await lockVolume(m, s.volumeId);
  const previous = await previousLedgerSeq(m, s.volumeId, s.seq, s.id);
  const [next] = await sqlRows<{ seq: number | null }>(
    m,
    `SELECT min(seq) AS seq FROM snapshot WHERE volume_id = $1 AND seq > $2 AND status = ANY($3) AND id <> $4`,
    [s.volumeId, s.seq, LEDGER_STATUSES, s.id],
  );
  // its references go first, counted in SQL (applyDeltaRows), then the rows: the volume's lock keeps them as they are
  const only = `FROM block_version
      WHERE volume_id = $1 AND first_seq > $2 AND first_seq <= $3
        AND last_seq IS NOT NULL AND last_seq > $3 AND ($4::int IS NULL OR last_seq <= $4)`;
  const params = [s.volumeId, previous, s.seq, next?.seq ?? null];
  await applyDeltaRows(m, s.region, `SELECT hash, -1 AS d, 0 AS p, false AS must ${only}`, params);
  return { versionsAdded: 0, versionsRemoved: await changedRowCount(m, `DELETE ${only}`, params) };
}

/**
 * Gives a new volume the content of a snapshot as its head (sequence 0): it shares all its blocks. The references are
 * counted and applied in SQL (applyDeltaRows).
 */
export async function seedVolumeFromSnapshot(m: EntityManager, volumeId: string, source: LedgerSnapshot): Promise<LedgerResult> {
  await lockVolume(m, volumeId);
  const seeded = await changedRowCount(
    m,
    `INSERT INTO block_version (volume_id, block_index, hash, first_seq)
     SELECT $1, block_index, hash, 0 FROM block_version
      WHERE volume_id = $2 AND first_seq <= $3 AND (last_seq IS NULL OR last_seq > $3)`,
    [volumeId, source.volumeId, source.seq],
  );
  // a new volume: every version it has is one just added
  await applyDeltaRows(m, source.region, `SELECT hash, 1 AS d, 0 AS p, false AS must FROM block_version WHERE volume_id = $1`, [volumeId]);
  await m.query(`UPDATE volume SET head_seq = 0, head_snapshot_id = $2, updated_at = now() WHERE id = $1`, [volumeId, source.id]);
  return { versionsAdded: seeded, versionsRemoved: 0 };
}

/**
 * Makes a snapshot's content the volume's head again, at a new sequence number: heads written after the
 * snapshot end, and the snapshot's versions that were overwritten since become heads again.
 */
export async function revertVolumeVersions(m: EntityManager, target: LedgerSnapshot, seq: number): Promise<LedgerResult> {
  const volume = await lockVolume(m, target.volumeId);
  if (seq <= volume.head_seq) throw new LedgerError(`revert seq ${seq} is not newer than the head (seq ${volume.head_seq})`);
  // heads written after the snapshot end at `seq`; its versions overwritten since become heads again, at `seq`
  await m.query(`UPDATE block_version SET last_seq = $2 WHERE volume_id = $1 AND last_seq IS NULL AND first_seq > $3`, [target.volumeId, seq, target.seq]);
  const reverted = await changedRowCount(
    m,
    `INSERT INTO block_version (volume_id, block_index, hash, first_seq)
     SELECT $1, block_index, hash, $2 FROM block_version
      WHERE volume_id = $1 AND first_seq <= $3 AND last_seq IS NOT NULL AND last_seq > $3`,
    [target.volumeId, seq, target.seq],
  );
  // ended heads no ledger snapshot can see (introduced after the previous one) go, with their references; `seq` is new,
  // so the rows ended at it and those added at it are exactly this revert's
  const previous = await previousLedgerSeq(m, target.volumeId, seq);
  await applyDeltaRows(
    m,
    target.region,
    `SELECT hash, -1 AS d, 0 AS p, false AS must ${deadHeads('$3')} UNION ALL SELECT hash, 1, 0, false FROM block_version WHERE volume_id = $1 AND first_seq = $2`,
    [target.volumeId, seq, previous],
  );
  const removed = await changedRowCount(m, `DELETE ${deadHeads('$3')}`, [target.volumeId, seq, previous]);
  await m.query(`UPDATE volume SET head_seq = $2, head_snapshot_id = $3, updated_at = now() WHERE id = $1`, [target.volumeId, seq, target.id]);
  return { versionsAdded: reverted, versionsRemoved: removed };
}

/** Drops every version of a volume that is being deleted together with its snapshots. */
export async function removeVolumeVersions(m: EntityManager, volumeId: string, region: string): Promise<LedgerResult> {
  await lockVolume(m, volumeId);
  await applyDeltaRows(m, region, `SELECT hash, -1 AS d, 0 AS p, false AS must FROM block_version WHERE volume_id = $1`, [volumeId]);
  return { versionsAdded: 0, versionsRemoved: await changedRowCount(m, `DELETE FROM block_version WHERE volume_id = $1`, [volumeId]) };
}
