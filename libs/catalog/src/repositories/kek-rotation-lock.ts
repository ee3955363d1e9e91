import { DataSource } from 'typeorm';

/** Another KEK rotation holds the lock. */
export class RotationRunningError extends Error {
  constructor() {
    super('another KEK rotation is running; run this one again once it has finished');
    this.name = 'RotationRunningError';
  }
}

/**
 * Runs a KEK rotation while holding a session advisory lock: one rotation at a time across every GC worker (a second
 * one would retire the first one's new KEK); the lock goes with the session if the process dies.
 */
export async function whileRotatingAlone<T>(dataSource: DataSource, work: () => Promise<T>): Promise<T> {
  const session = dataSource.createQueryRunner();
  await session.connect();
  try {
    const [{ locked }] = (await session.query(`SELECT pg_try_advisory_lock(hashtext('island keys-rotate')) AS locked`)) as { locked: boolean }[];
    if (!locked) throw new RotationRunningError();
    try {
      return await work();
    } finally {
      await session.query(`SELECT pg_advisory_unlock(hashtext('island keys-rotate'))`);
    }
  } finally {
    await session.release();
  }
}
