import { EntityManager } from 'typeorm';
import { applyBlockDeltas, BlockDeltas } from './block-references';
import { BlocksBeingDeletedError, SnapshotNotUploadingError } from './ledger-errors';
import { sqlRows } from './sql-rows';

export interface ClaimRequest {
  hash: Buffer;
  /** Uncompressed length of the block. */
  size: number;
}

export interface ClaimResult {
  /** In Swift already, and now kept there by the claim: skip the upload. */
  present: Buffer[];
  /** Not (yet) known to be in Swift: upload, then markBlocksPresent. */
  upload: Buffer[];
}

/**
 * Claims blocks for an in-flight snapshot before deciding whether to upload them. A claim raises the
 * block's `pending` count in the same row GC must lock and test to delete it, so from this transaction's
 * commit on, GC cannot delete the block until the snapshot commits (claims become references) or is
 * abandoned (claims are released). Idempotent per snapshot and block: a redelivered part claims nothing twice.
 * Throws BlocksBeingDeletedError (nothing claimed) when GC is deleting one of the blocks right now — wait for the
 * outcome with waitingForBlockDeletes — and SnapshotNotUploadingError when the snapshot is no longer uploading
 * (failed, deleted).
 */
export async function claimBlocks(m: EntityManager, snapshotId: string, region: string, blocks: ClaimRequest[]): Promise<ClaimResult> {
  const unique = [...new Map(blocks.map((b) => [b.hash.toString('hex'), b])).values()].sort((a, b) => Buffer.compare(a.hash, b.hash));
  if (unique.length === 0) return { present: [], upload: [] };
  // a part redelivered after its snapshot failed or was deleted must not leave claims nobody releases.
  // KEY SHARE: whatever ends the upload locks the row FOR UPDATE first, so it waits for this claim to commit
  // and a later claim sees the new status; recording a finished part (a no-key update) does not wait for claims.
  const [snapshot] = await sqlRows<{ status: string; project_id: string }>(m, `SELECT status, project_id FROM snapshot WHERE id = $1 FOR KEY SHARE`, [
    snapshotId,
  ]);
  if (snapshot?.status !== 'uploading') throw new SnapshotNotUploadingError(snapshotId, snapshot?.status);
  const hashes = unique.map((b) => b.hash);
  // refused before any block row is locked or inserted: a claim that must wait for GC takes nothing GC may need
  const [marked] = await sqlRows<{ n: number }>(
    m,
    `SELECT count(*)::int AS n FROM block WHERE region = $1 AND hash = ANY($2::bytea[]) AND state = 'deleting'`,
    [region, hashes],
  );
  if (marked.n > 0) throw new BlocksBeingDeletedError(region, marked.n);
  await m.query(
    `INSERT INTO block (region, hash, size, state, project_id)
     SELECT $1, h, s, 'uploading', $4 FROM unnest($2::bytea[], $3::int[]) AS t(h, s) ORDER BY h
     ON CONFLICT (region, hash) DO NOTHING`,
    [region, hashes, unique.map((b) => b.size), snapshot.project_id],
  );
  const rows = await sqlRows<{ hash: Buffer; state: string }>(
    m,
    `SELECT hash, state FROM block WHERE region = $1 AND hash = ANY($2::bytea[]) ORDER BY hash FOR UPDATE`,
    [region, hashes],
  );
  const deleting = rows.filter((r) => r.state === 'deleting');
  if (deleting.length > 0) throw new BlocksBeingDeletedError(region, deleting.length);

  const fresh = await sqlRows<{ hash: Buffer }>(
    m,
    `INSERT INTO block_claim (snapshot_id, region, hash)
     SELECT $1, $2, h FROM unnest($3::bytea[]) AS h
     ON CONFLICT (snapshot_id, hash) DO NOTHING
  RETURNING hash`,
    [snapshotId, region, hashes],
  );
  const deltas = new BlockDeltas();
  for (const c of fresh) deltas.add(c.hash, 0, +1);
  await applyBlockDeltas(m, region, deltas);
  return {
    present: rows.filter((r) => r.state === 'present').map((r) => r.hash),
    upload: rows.filter((r) => r.state === 'uploading').map((r) => r.hash),
  };
}

/** Records that uploaded blocks are now in Swift (with their stored, compressed size). */
export async function markBlocksPresent(m: EntityManager, region: string, blocks: { hash: Buffer; storedSize: number }[]): Promise<void> {
  if (blocks.length === 0) return;
  const sorted = [...blocks].sort((a, b) => Buffer.compare(a.hash, b.hash));
  await m.query(
    `UPDATE block b SET state = 'present', stored_size = d.stored
       FROM unnest($2::bytea[], $3::int[]) AS d(hash, stored)
      WHERE b.region = $1 AND b.hash = d.hash AND b.state = 'uploading'`,
    [region, sorted.map((b) => b.hash), sorted.map((b) => b.storedSize)],
  );
}

/** Releases every claim of an abandoned snapshot; its uploaded-but-unreferenced blocks become collectable. */
export async function releaseClaims(m: EntityManager, snapshotId: string, region: string): Promise<number> {
  const claims = await sqlRows<{ hash: Buffer }>(m, `DELETE FROM block_claim WHERE snapshot_id = $1 RETURNING hash`, [snapshotId]);
  const deltas = new BlockDeltas();
  for (const c of claims) deltas.add(c.hash, 0, -1);
  await applyBlockDeltas(m, region, deltas);
  return claims.length;
}
