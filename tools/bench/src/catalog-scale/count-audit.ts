import { DataSource } from 'typeorm';
import { referenceDiscrepancies } from '@island/catalog';
import { SCALE_REGION } from './synthetic-fill';

export interface AuditResult {
  seconds: number;
  /** Null when the audit was stopped at the time limit. */
  discrepancies: number | null;
}

/** PostgreSQL's error code for a statement cancelled by statement_timeout. */
const QUERY_CANCELED = '57014';

/** fsck's count audit of the synthetic region (referenceDiscrepancies, one statement), stopped after `limitMinutes`. */
export async function timedCountAudit(db: DataSource, limitMinutes: number): Promise<AuditResult> {
  const runner = db.createQueryRunner();
  await runner.connect();
  const started = performance.now();
  try {
    await runner.query(`SET statement_timeout = '${Math.round(limitMinutes * 60_000)}ms'`);
    const found = await referenceDiscrepancies(runner.manager, SCALE_REGION);
    return { seconds: (performance.now() - started) / 1000, discrepancies: found.length };
  } catch (error) {
    if ((error as { driverError?: { code?: string } }).driverError?.code !== QUERY_CANCELED) throw error;
    return { seconds: (performance.now() - started) / 1000, discrepancies: null };
  } finally {
    await runner.query(`RESET statement_timeout`).catch(() => undefined);
    await runner.release();
  }
}
