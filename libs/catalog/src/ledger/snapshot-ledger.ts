import { EntityManager } from 'typeorm';
import { LEDGER_STATUSES } from '../entities/snapshot.entity';
import { applyBlockDeltas, BlockDeltas } from './block-references';
import { LedgerError } from './ledger-errors';
import { dropStagedChanges, stagedChanges } from './snapshot-changes';
import { preparedRows, sqlRows } from './sql-rows';

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

/** Which head versions a step ends: rows joined to them (`from`, may be empty) and the condition on both. */
interface HeadSelection {
  from: string;
  where: string;
  params: unknown[];
}

/**
 * Ends the head versions selected at `seq`; those no ledger snapshot can see any more
 * (introduced after the previous ledger snapshot) are deleted and lose their reference.
 */
async function supersedeHeads(m: EntityManager, volumeId: string, seq: number, heads: HeadSelection, deltas: BlockDeltas): Promise<number> {
  const ended = await sqlRows<{ id: string; hash: Buffer; first_seq: number }>(
    m,
    `UPDATE block_version v SET last_seq = $2 ${heads.from && `FROM ${heads.from}`}
      WHERE v.volume_id = $1 AND v.last_seq IS NULL AND ${heads.where}
  RETURNING v.id, v.hash, v.first_seq`,
    [volumeId, seq, ...heads.params],
  );
  const previous = await previousLedgerSeq(m, volumeId, seq);
  const dead = ended.filter((v) => v.first_seq > previous);
  if (dead.length > 0) {
    await m.query(`DELETE FROM block_version WHERE id = ANY($1::bigint[])`, [dead.map((v) => v.id)]);
    for (const v of dead) deltas.add(v.hash, -1);
  }
  return dead.length;
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
  const deltas = new BlockDeltas();
  // joined to the staged rows: each finds its head by index once block_version has statistics; before, the planner hashes
  // the volume's heads (linear in the volume: 5.5 ms for 8,192)
  const removed = await supersedeHeads(
    m,
    s.volumeId,
    s.seq,
    { from: `${stagedChanges('$3')} c`, where: `v.block_index = c.block_index AND (c.hash IS NULL OR c.hash <> v.hash)`, params: [s.id] },
    deltas,
  );
  // a staged block whose head was not ended above (the same content) keeps it: the head index itself refuses the new
  // version (ON CONFLICT), whatever plan the statement gets. Asked as NOT EXISTS, the planner took a volume whose versions
  // were not analyzed yet for one row and compared every staged block with every head (47 ms for 82 of 8,192 heads)
  const added = await sqlRows<AddedBlock>(
    m,
    `WITH added AS (
       INSERT INTO block_version (volume_id, block_index, hash, first_seq)
       SELECT $1, c.block_index, c.hash, $2 FROM ${stagedChanges('$3')} c
        WHERE c.hash IS NOT NULL
       ON CONFLICT (volume_id, block_index) WHERE last_seq IS NULL DO NOTHING
       RETURNING hash)
     SELECT hash, count(*)::int AS versions FROM added GROUP BY hash`,
    [s.volumeId, s.seq, s.id],
  );
  await preparedRows(m, 'island_advance_head_v1', `UPDATE volume SET head_seq = $2, head_snapshot_id = $3, updated_at = now() WHERE id = $1`, [
    s.volumeId,
    s.seq,
    s.id,
  ]);
  await settleCommit(m, s, added, deltas);
  return { versionsAdded: versionsIn(added), versionsRemoved: removed };
}

/** Versions a commit added, counted per block in SQL: a volume's block map never comes back whole. */
interface AddedBlock {
  hash: Buffer;
  versions: number;
}

function versionsIn(added: AddedBlock[]): number {
  return added.reduce((sum, b) => sum + b.versions, 0);
}

/**
 * The end of every commit: the new versions' references and the snapshot's claims (now references) are
 * applied together, each referenced block checked present as its row is updated; the staged changes are done with.
 */
async function settleCommit(m: EntityManager, s: LedgerSnapshot, added: AddedBlock[], deltas: BlockDeltas): Promise<void> {
  for (const v of added) deltas.add(v.hash, v.versions, 0, true);
  const claims = await preparedRows<{ hash: Buffer }>(m, 'island_settle_claims_v1', `DELETE FROM block_claim WHERE snapshot_id = $1 RETURNING hash`, [s.id]);
  for (const c of claims) deltas.add(c.hash, 0, -1);
  await applyBlockDeltas(m, s.region, deltas);
  await dropStagedChanges(m, s.id);
}

/**
 * Commits a region copy: the staged block map (snapshot_change_batch) becomes versions of the replica volume
 * that only the copy's sequence number sees ([seq, seq + 1)), so copies enter and leave a replica in any
 * order and removeSnapshotVersions drops exactly a copy's own rows. Its claims turn into references; the
 * replica's head does not move (a replica has none). A copy's rows are as many as its non-hole blocks.
 */
export async function commitCopyVersions(m: EntityManager, s: LedgerSnapshot): Promise<LedgerResult> {
  await lockVolume(m, s.volumeId);
  const added = await sqlRows<AddedBlock>(
    m,
    `WITH added AS (
       INSERT INTO block_version (volume_id, block_index, hash, first_seq, last_seq)
       SELECT $1, c.block_index, c.hash, $2, $2 + 1 FROM ${stagedChanges('$3')} c
        WHERE c.hash IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM block_version v WHERE v.volume_id = $1 AND v.first_seq = $2)
       RETURNING hash)
     SELECT hash, count(*)::int AS versions FROM added GROUP BY hash`,
    [s.volumeId, s.seq, s.id],
  );
  await settleCommit(m, s, added, new BlockDeltas());
  return { versionsAdded: versionsIn(added), versionsRemoved: 0 };
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
  // its references go first, counted in SQL (changeReferencesOf), then the rows: the volume's lock keeps them as they are
  const only = `FROM block_version
      WHERE volume_id = $1 AND first_seq > $2 AND first_seq <= $3
        AND last_seq IS NOT NULL AND last_seq > $3 AND ($4::int IS NULL OR last_seq <= $4)`;
  const params = [s.volumeId, previous, s.seq, next?.seq ?? null];
  await changeReferencesOf(m, s.region, `SELECT hash, -1 AS d ${only}`, params);
  const [removed] = await sqlRows<{ versions: number }>(m, `WITH dead AS (DELETE ${only} RETURNING 1) SELECT count(*)::int AS versions FROM dead`, params);
  return { versionsAdded: 0, versionsRemoved: removed.versions };
}

/**
 * Gives a new volume the content of a snapshot as its head (sequence 0): it shares all its blocks. The references are
 * counted and applied in SQL (changeReferencesOf).
 */
export async function seedVolumeFromSnapshot(m: EntityManager, volumeId: string, source: LedgerSnapshot): Promise<LedgerResult> {
  await lockVolume(m, volumeId);
  const [seeded] = await sqlRows<{ versions: number }>(
    m,
    `WITH added AS (
       INSERT INTO block_version (volume_id, block_index, hash, first_seq)
       SELECT $1, block_index, hash, 0 FROM block_version
        WHERE volume_id = $2 AND first_seq <= $3 AND (last_seq IS NULL OR last_seq > $3)
       RETURNING 1)
     SELECT count(*)::int AS versions FROM added`,
    [volumeId, source.volumeId, source.seq],
  );
  // a new volume: every version it has is one just added
  await changeReferencesOf(m, source.region, `SELECT hash, 1 AS d FROM block_version WHERE volume_id = $1`, [volumeId]);
  await m.query(`UPDATE volume SET head_seq = 0, head_snapshot_id = $2, updated_at = now() WHERE id = $1`, [volumeId, source.id]);
  return { versionsAdded: seeded.versions, versionsRemoved: 0 };
}

/**
 * Changes the references of the region's blocks by what `deltas` selects — a query over `params` with a `hash` and an
 * integer `d` column, a row per version added (1) or dropped (-1) — in SQL: the block rows are locked in hash order, as
 * applyBlockDeltas locks them (so that no two writers deadlock), then changed by the sum of their rows, a block left
 * with no reference and no claim starting its grace window. Nothing per block comes back to the process: a volume of
 * 4 M blocks once came back as 4 M rows, past the heap of the process that asked. Every block must have a row.
 */
async function changeReferencesOf(m: EntityManager, region: string, deltas: string, params: unknown[]): Promise<void> {
  const r = `$${params.length + 1}`;
  const [locked] = await sqlRows<{ blocks: number; rows: number }>(
    m,
    `SELECT (SELECT count(DISTINCT hash) FROM (${deltas}) v)::int AS blocks,
            (SELECT count(*) FROM (SELECT 1 FROM block b WHERE b.region = ${r} AND b.hash IN (SELECT hash FROM (${deltas}) v)
              ORDER BY b.hash FOR UPDATE OF b) l)::int AS rows`,
    [...params, region],
  );
  if (locked.rows !== locked.blocks) {
    throw new LedgerError(`${locked.blocks - locked.rows} referenced block(s) are missing from the catalog of region ${region}`);
  }
  await m.query(
    `UPDATE block b
        SET refcount = b.refcount + c.refs,
            zero_since = CASE WHEN b.refcount + c.refs = 0 AND b.pending = 0 THEN coalesce(b.zero_since, now()) ELSE NULL END
       FROM (SELECT hash, sum(d)::int AS refs FROM (${deltas}) v GROUP BY hash) c
      WHERE b.region = ${r} AND b.hash = c.hash AND c.refs <> 0`,
    [...params, region],
  );
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
  const [reverted] = await sqlRows<{ versions: number }>(
    m,
    `WITH added AS (
       INSERT INTO block_version (volume_id, block_index, hash, first_seq)
       SELECT $1, block_index, hash, $2 FROM block_version
        WHERE volume_id = $1 AND first_seq <= $3 AND last_seq IS NOT NULL AND last_seq > $3
       RETURNING 1)
     SELECT count(*)::int AS versions FROM added`,
    [target.volumeId, seq, target.seq],
  );
  // ended heads no ledger snapshot can see (introduced after the previous one) go, with their references; `seq` is new,
  // so the rows ended at it and those added at it are exactly this revert's
  const previous = await previousLedgerSeq(m, target.volumeId, seq);
  const dead = `FROM block_version WHERE volume_id = $1 AND last_seq = $2 AND first_seq > $3`;
  await changeReferencesOf(
    m,
    target.region,
    `SELECT hash, -1 AS d ${dead} UNION ALL SELECT hash, 1 AS d FROM block_version WHERE volume_id = $1 AND first_seq = $2`,
    [target.volumeId, seq, previous],
  );
  const [removed] = await sqlRows<{ versions: number }>(m, `WITH gone AS (DELETE ${dead} RETURNING 1) SELECT count(*)::int AS versions FROM gone`, [
    target.volumeId,
    seq,
    previous,
  ]);
  await m.query(`UPDATE volume SET head_seq = $2, head_snapshot_id = $3, updated_at = now() WHERE id = $1`, [target.volumeId, seq, target.id]);
  return { versionsAdded: reverted.versions, versionsRemoved: removed.versions };
}

/** Drops every version of a volume that is being deleted together with its snapshots. */
export async function removeVolumeVersions(m: EntityManager, volumeId: string, region: string): Promise<LedgerResult> {
  await lockVolume(m, volumeId);
  await changeReferencesOf(m, region, `SELECT hash, -1 AS d FROM block_version WHERE volume_id = $1`, [volumeId]);
  const [removed] = await sqlRows<{ versions: number }>(
    m,
    `WITH dead AS (DELETE FROM block_version WHERE volume_id = $1 RETURNING 1) SELECT count(*)::int AS versions FROM dead`,
    [volumeId],
  );
  return { versionsAdded: 0, versionsRemoved: removed.versions };
}
