import { EntityManager } from 'typeorm';
import { sqlRows } from './sql-rows';

/** A region's scheduled scrub as its holder sees it: where the pass in progress stands. */
export interface ScrubPass {
  /** The last block hash checked (blocks go in hash order); null: the pass starts from the first. */
  cursor: Buffer | null;
  startedAt: Date;
  blocks: number;
  bytes: number;
  repaired: number;
  damaged: number;
}

/** What one checkpoint adds to the pass. */
export interface ScrubProgress {
  cursor: Buffer | null;
  blocks: number;
  bytes: number;
  repaired: number;
  damaged: number;
}

/**
 * Takes (or renews) a region's scrub lease for `owner` when no other holder's lease is running, and returns its pass:
 * the one in progress (continued where its last checkpoint left it, whoever ran it), or a new one when the last
 * finished `intervalSeconds` ago or more. Undefined: another holder runs it, or no pass is due.
 */
export async function takeScrubPass(
  m: EntityManager,
  region: string,
  owner: string,
  leaseSeconds: number,
  intervalSeconds: number,
): Promise<ScrubPass | undefined> {
  await m.query(`INSERT INTO scrub_state (region) VALUES ($1) ON CONFLICT (region) DO NOTHING`, [region]);
  const rows = await sqlRows<{ cursor: Buffer | null; started: Date; blocks: string; bytes: string; repaired: number; damaged: number }>(
    m,
    `UPDATE scrub_state SET owner = $2, lease_until = now() + make_interval(secs => $3),
            pass_started_at = coalesce(pass_started_at, now()),
            pass_blocks = CASE WHEN pass_started_at IS NULL THEN 0 ELSE pass_blocks END,
            pass_bytes = CASE WHEN pass_started_at IS NULL THEN 0 ELSE pass_bytes END,
            pass_repaired = CASE WHEN pass_started_at IS NULL THEN 0 ELSE pass_repaired END,
            pass_damaged = CASE WHEN pass_started_at IS NULL THEN 0 ELSE pass_damaged END,
            cursor = CASE WHEN pass_started_at IS NULL THEN NULL ELSE cursor END
      WHERE region = $1 AND (owner IS NULL OR owner = $2 OR lease_until < now())
        AND (pass_started_at IS NOT NULL OR last_finished_at IS NULL OR last_finished_at <= now() - make_interval(secs => $4))
      RETURNING cursor, pass_started_at AS started, pass_blocks AS blocks, pass_bytes AS bytes, pass_repaired AS repaired, pass_damaged AS damaged`,
    [region, owner, leaseSeconds, intervalSeconds],
  );
  const r = rows[0];
  return r && { cursor: r.cursor, startedAt: r.started, blocks: Number(r.blocks), bytes: Number(r.bytes), repaired: r.repaired, damaged: r.damaged };
}

/** Records a pass's progress and renews the lease. False: the lease was lost (another holder took it over): stop. */
export async function checkpointScrubPass(m: EntityManager, region: string, owner: string, leaseSeconds: number, progress: ScrubProgress): Promise<boolean> {
  const rows = await sqlRows<{ region: string }>(
    m,
    `UPDATE scrub_state SET cursor = $4, pass_blocks = pass_blocks + $5, pass_bytes = pass_bytes + $6,
            pass_repaired = pass_repaired + $7, pass_damaged = pass_damaged + $8, lease_until = now() + make_interval(secs => $3)
      WHERE region = $1 AND owner = $2 RETURNING region`,
    [region, owner, leaseSeconds, progress.cursor, progress.blocks, progress.bytes, progress.repaired, progress.damaged],
  );
  return rows.length > 0;
}

/** Ends the pass (its numbers kept as the last pass's, with `summary`) and gives the lease back. */
export async function finishScrubPass(m: EntityManager, region: string, owner: string, summary: Record<string, unknown>): Promise<void> {
  await m.query(
    `UPDATE scrub_state SET last_pass = jsonb_build_object('startedAt', pass_started_at, 'finishedAt', now(), 'blocks', pass_blocks,
              'bytes', pass_bytes, 'repaired', pass_repaired, 'damaged', pass_damaged) || $3::jsonb,
            last_finished_at = now(), pass_started_at = NULL, cursor = NULL, owner = NULL, lease_until = NULL
      WHERE region = $1 AND owner = $2`,
    [region, owner, JSON.stringify(summary)],
  );
}

/** Gives the lease back without ending the pass (a shutdown): the next holder continues from the last checkpoint. */
export async function releaseScrubPass(m: EntityManager, region: string, owner: string): Promise<void> {
  await m.query(`UPDATE scrub_state SET owner = NULL, lease_until = NULL WHERE region = $1 AND owner = $2`, [region, owner]);
}
