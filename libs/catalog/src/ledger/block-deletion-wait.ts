import { setTimeout as sleep } from 'node:timers/promises';
import { BlocksBeingDeletedError } from './ledger-errors';

/**
 * How long a claim waits for GC to finish deleting blocks it needs: a run deletes a batch in seconds, and the marks of
 * a run that died are taken over and deleted well within this (gc-lease.ts).
 */
export const BLOCK_DELETION_WAIT_MS = 120_000;

/**
 * Runs `claim` — a whole claim transaction — again while GC is deleting some of its blocks, until the deleter forgot
 * them (the claim then uploads them afresh) or gave them back; `onWait` is told once, when the wait begins. After
 * `maxWaitMs` the BlocksBeingDeletedError is thrown. Nothing is held while waiting: a refused claim rolled back.
 */
export async function waitingForBlockDeletes<T>(
  claim: () => Promise<T>,
  onWait: (refusal: BlocksBeingDeletedError) => void = () => undefined,
  maxWaitMs = BLOCK_DELETION_WAIT_MS,
): Promise<T> {
  const started = performance.now();
  for (let pause = 100; ; pause = Math.min(2_000, pause * 2)) {
    try {
      return await claim();
    } catch (error) {
      if (!(error instanceof BlocksBeingDeletedError) || performance.now() - started + pause > maxWaitMs) throw error;
      if (pause === 100) onWait(error);
      await sleep(pause);
    }
  }
}
